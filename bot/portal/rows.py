"""Rows shared by the portal's pages: a flag as listed, the next dosing session, audited reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.flags.screener_runs import screener_rows
from bot.staff.access import ClinicScopedRepo
from bot.store.models import AlertDelivery, DosingSession, Patient, RiskFlag

SEVERITY_RANK = {"none": 0, "low": 1, "moderate": 2, "high": 3, "critical": 4}


@dataclass(frozen=True)
class FlagRow:
    id: int
    patient_ref: str
    patient_name: str
    severity: str
    categories: list[str]
    status: str
    created_at: datetime
    deadline_at: datetime | None


class PortalRepo(ClinicScopedRepo):
    """Base of the portal's repositories: staff-scoped, with the rows several pages show."""

    @staticmethod
    def _next_session(s: Session, patient_id: int, now: datetime) -> datetime | None:
        return s.execute(
            select(func.min(DosingSession.planned_at)).where(
                DosingSession.patient_id == patient_id,
                DosingSession.status == "planned",
                DosingSession.planned_at > now,
            )
        ).scalar()

    def _audit_flag_read(self, s: Session, staff_id: int, p: Patient, flag: RiskFlag) -> None:
        self._audit(
            s,
            f"staff:{staff_id}",
            "read.risk_flag",
            patient_id=p.id,
            origin="portal",
            detail={"flag_id": flag.id},
        )

    def _flag_row(self, s: Session, flag: RiskFlag, p: Patient) -> FlagRow:
        deadline = s.execute(
            select(func.min(AlertDelivery.deadline_at)).where(
                AlertDelivery.flag_id == flag.id, AlertDelivery.severity == flag.severity
            )
        ).scalar_one_or_none()
        return FlagRow(
            flag.id,
            p.ref,
            self._decrypt(p, p.display_name_enc) or p.ref,
            flag.severity,
            json.loads(flag.categories),
            flag.status,
            flag.created_at,
            deadline,
        )

    def _screener_rows(self, s: Session, flag_id: int, p: Patient) -> list[dict[str, Any]]:
        return screener_rows(s, flag_id, p, self._decrypt)
