"""What the schedule's repository hands out: dosing sessions, scheduled check-ins, claimed jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SessionView:
    id: int
    planned_at: datetime
    route: str
    status: str


@dataclass(frozen=True)
class ScheduledView:
    id: int
    prompt_set: str
    kind: str
    due_at: datetime
    status: str
    reason: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class DueJob:
    """A due check-in as one worker claimed it."""

    id: int
    patient_ref: str
    prompt_set: str
    kind: str
    due_at: datetime
    claim_token: str
    attempts: int
    timezone: str = "UTC"
