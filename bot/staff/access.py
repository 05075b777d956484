"""What a staff member may see: a therapist their own patients, a clinic admin their clinic's.

Any other patient is NotFound (the portal answers 404, never "forbidden", so ids do not leak).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from bot.staff.store import StaffView
from bot.store.core import Repo
from bot.store.models import (
    Patient,
    Staff,
)


class ClinicScopedRepo(Repo):
    """Base of the staff-facing repositories: who may see which patient."""

    @staticmethod
    def _staff_view_of(st: Staff) -> StaffView:
        stamp = hashlib.sha256((st.password_hash or "").encode()).hexdigest()[:16]
        return StaffView(
            st.id, st.clinic_id, st.email, st.display_name, st.role, st.totp_enabled_at is not None, stamp
        )

    @staticmethod
    def _scope(staff: Staff) -> Any:
        """The patients this staff member may see. A deleted (crypto-shredded) patient is
        nobody's: their leftover rows can no longer be decrypted, so every page treats them as
        not found."""
        owner = (
            Patient.clinic_id == staff.clinic_id
            if staff.role == "admin"
            else Patient.therapist_id == staff.id
        )
        return and_(owner, Patient.status != "deleted")

    def _staff(self, s: Session, staff_id: int) -> Staff:
        from bot.store.errors import NotFound

        staff = s.get(Staff, staff_id)
        if staff is None:
            raise NotFound("No such staff account.")
        return staff

    def _visible_patient(self, s: Session, staff: Staff, ref: str) -> Patient:
        from bot.store.errors import NotFound

        p = s.execute(select(Patient).where(Patient.ref == ref, self._scope(staff))).scalar_one_or_none()
        if p is None:
            raise NotFound("No such patient.")
        return p
