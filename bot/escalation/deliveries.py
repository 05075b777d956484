"""Alert delivery storage (the outbox): claims by workers, completion, retries, escalation of
overdue flags, and acknowledging a flag from an alert.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.flags.store import FlagRepo, queue_alerts
from bot.store.core import Repo, StoreCore
from bot.store.db import transaction
from bot.store.models import (
    AlertDelivery,
    Clinic,
    Patient,
    RiskFlag,
    Staff,
)


@dataclass(frozen=True)
class DeliveryJob:
    """One alert to send, as a worker claimed it. Carries no patient words."""

    id: int
    flag_id: int
    channel: str
    level: int
    severity: str
    categories: list[str]
    patient_ref: str
    clinic_slug: str
    clinic_name: str
    flag_created_at: datetime
    deadline_at: datetime
    attempts: int
    claim_token: str


class DeliveryRepo(Repo):
    """Alert deliveries, as workers claim and complete them."""

    def __init__(self, core: StoreCore, flags: FlagRepo) -> None:
        super().__init__(core)
        self._flags = flags

    def claim_deliveries(self, *, now: datetime, lease: timedelta, limit: int = 20) -> list[DeliveryJob]:
        """Claim due deliveries for one worker.

        Each claim is a compare-and-set on one row (only an unclaimed or expired claim can be
        taken), so several workers never send the same delivery, on SQLite or PostgreSQL, and
        a worker that dies mid-send loses its claim when the lease runs out.
        """
        token = secrets.token_hex(8)
        table = AlertDelivery.__table__
        claimable = (AlertDelivery.claimed_until.is_(None)) | (AlertDelivery.claimed_until < now)
        with transaction(self._factory) as s:
            candidates = s.execute(
                select(AlertDelivery.id, RiskFlag.status)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .where(
                    AlertDelivery.status == "pending",
                    AlertDelivery.channel != "portal",
                    (AlertDelivery.next_attempt_at.is_(None)) | (AlertDelivery.next_attempt_at <= now),
                    claimable,
                )
                .order_by(AlertDelivery.id)
                .limit(limit)
            ).all()
            claimed: list[int] = []
            for delivery_id, flag_status in candidates:
                if flag_status != "open":
                    # Someone already acknowledged or resolved it: nothing left to tell.
                    s.execute(
                        table.update()
                        .where(table.c.id == delivery_id, table.c.status == "pending")
                        .values(status="skipped")
                    )
                    continue
                result = s.execute(
                    table.update()
                    .where(table.c.id == delivery_id, table.c.status == "pending", claimable)
                    .values(claim_token=token, claimed_until=now + lease)
                )
                if result.rowcount == 1:
                    claimed.append(delivery_id)
        if not claimed:
            return []
        with transaction(self._factory) as s:
            rows = s.execute(
                select(AlertDelivery, RiskFlag, Patient, Clinic)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .join(Clinic, Clinic.id == Patient.clinic_id)
                .where(AlertDelivery.id.in_(claimed), AlertDelivery.claim_token == token)
                .order_by(AlertDelivery.id)
            ).all()
            return [
                DeliveryJob(
                    id=d.id,
                    flag_id=f.id,
                    channel=d.channel,
                    level=d.level,
                    severity=d.severity,
                    categories=json.loads(f.categories),
                    patient_ref=p.ref,
                    clinic_slug=c.slug,
                    clinic_name=c.name,
                    flag_created_at=f.created_at,
                    deadline_at=d.deadline_at,
                    attempts=d.attempts,
                    claim_token=token,
                )
                for d, f, p, c in rows
            ]

    def complete_delivery(self, job: DeliveryJob, *, now: datetime) -> bool:
        """Mark a claimed delivery sent; False if the claim had expired and was taken over."""
        table = AlertDelivery.__table__
        with transaction(self._factory) as s:
            result = s.execute(
                table.update()
                .where(table.c.id == job.id, table.c.claim_token == job.claim_token)
                .values(
                    status="delivered",
                    delivered_at=now,
                    attempts=table.c.attempts + 1,
                    claimed_until=None,
                    last_error=None,
                )
            )
            return result.rowcount == 1

    def fail_delivery(self, job: DeliveryJob, *, error: str, retry_at: datetime) -> None:
        table = AlertDelivery.__table__
        with transaction(self._factory) as s:
            s.execute(
                table.update()
                .where(table.c.id == job.id, table.c.claim_token == job.claim_token)
                .values(
                    attempts=table.c.attempts + 1,
                    last_error=error[:255],
                    next_attempt_at=retry_at,
                    claim_token=None,
                    claimed_until=None,
                )
            )

    def escalate_overdue(
        self,
        *,
        now: datetime,
        channels_for: Callable[[str], Sequence[str]],
        deadlines_for: Callable[[str], Mapping[str, timedelta]],
        max_level: int = 3,
    ) -> list[int]:
        """Open flags whose acknowledge deadline passed get alerts one level up (the backup
        contacts). Returns the ids of the flags re-escalated. Audited."""
        escalated: list[int] = []
        with transaction(self._factory) as s:
            overdue = s.execute(
                select(AlertDelivery, RiskFlag, Patient, Clinic)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .join(Clinic, Clinic.id == Patient.clinic_id)
                .where(
                    RiskFlag.status == "open",
                    AlertDelivery.escalated_at.is_(None),
                    AlertDelivery.deadline_at <= now,
                    AlertDelivery.severity == RiskFlag.severity,
                )
                .order_by(AlertDelivery.id)
            ).all()
            by_flag: dict[int, list] = {}
            for d, f, p, c in overdue:
                by_flag.setdefault(f.id, []).append((d, f, p, c))
            for flag_id, items in by_flag.items():
                level = max(d.level for d, *_ in items) + 1
                for d, *_ in items:
                    d.escalated_at = now
                if level > max_level:
                    continue
                _, f, p, c = items[0]
                deadline = now + deadlines_for(c.slug).get(f.severity, timedelta(hours=24))
                queue_alerts(s, flag_id, f.severity, channels_for(c.slug) or ["portal"], deadline, now, level)
                self._audit(
                    s,
                    "system:escalation",
                    "risk_flag.escalate",
                    patient_id=p.id,
                    detail={"flag_id": flag_id, "level": level},
                )
                escalated.append(flag_id)
        return escalated

    def acknowledge_via_delivery(self, delivery_id: int, telegram_user_id: str, *, origin: str) -> str | None:
        """Acknowledge the flag behind a delivery for the staff member with this Telegram id.

        Returns the staff member's name, or None if the Telegram user is not staff of that
        clinic (nothing is acknowledged then)."""
        with transaction(self._factory) as s:
            row = s.execute(
                select(AlertDelivery.flag_id, Patient.clinic_id)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .where(AlertDelivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                return None
            staff = (
                s.execute(
                    select(Staff).where(
                        Staff.telegram_user_id == telegram_user_id,
                        Staff.clinic_id == row[1],
                        Staff.disabled_at.is_(None),
                    )
                )
                .scalars()
                .first()
            )
            if staff is None:
                return None
            staff_id, name, flag_id = staff.id, staff.display_name, row[0]
        flag_status = self._flags.flag_status(flag_id)
        if flag_status in ("open",):
            self._flags.acknowledge_flag(flag_id, staff_id, origin=origin)
        return name
