"""Clinics and staff accounts as the rest of Interlude needs them (names, e-mail, Telegram)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.errors import NotFound, StoreError
from bot.store.models import (
    Clinic,
    Staff,
)


@dataclass(frozen=True)
class StaffView:
    id: int
    clinic_id: int
    email: str
    display_name: str
    role: str
    #: Whether a second factor (TOTP) is enabled for this account.
    totp: bool = False
    #: Changes when the password does: a portal session signed in before a change then ends.
    credential_stamp: str = ""


class StaffRepo(Repo):
    """Clinics and staff accounts."""

    def ensure_clinic(self, slug: str, name: str) -> int:
        with transaction(self._factory) as s:
            clinic = s.execute(select(Clinic).where(Clinic.slug == slug)).scalar_one_or_none()
            if clinic is None:
                clinic = Clinic(slug=slug, name=name, created_at=self._clock())
                s.add(clinic)
                s.flush()
            return clinic.id

    def ensure_staff(
        self, clinic_id: int, email: str, display_name: str, role: str, password_hash: str | None
    ) -> tuple[int, bool]:
        """Return (staff id, created?) for `email`, creating the account if missing."""
        if role not in ("therapist", "admin"):
            raise StoreError(f"Unknown staff role {role!r}; use therapist or admin.")
        email = email.strip().lower()
        with transaction(self._factory) as s:
            staff = s.execute(select(Staff).where(Staff.email == email)).scalar_one_or_none()
            if staff is not None:
                return staff.id, False
            staff = Staff(
                clinic_id=clinic_id,
                email=email,
                display_name=display_name,
                role=role,
                password_hash=password_hash,
                created_at=self._clock(),
            )
            s.add(staff)
            s.flush()
            self._audit(s, "system", "staff.create", detail={"staff_id": staff.id, "role": role})
            return staff.id, True

    def staff_by_email(self, email: str) -> StaffView | None:
        with transaction(self._factory) as s:
            st = s.execute(select(Staff).where(Staff.email == email.strip().lower())).scalar_one_or_none()
            if st is None:
                return None
            return StaffView(st.id, st.clinic_id, st.email, st.display_name, st.role)

    def staff_id_by_email(self, email: str) -> int | None:
        with transaction(self._factory) as s:
            return s.execute(
                select(Staff.id).where(Staff.email == email.strip().lower())
            ).scalar_one_or_none()

    def staff_name(self, staff_id: int) -> str:
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            if staff is None:
                raise NotFound(f"No staff account {staff_id}.")
            return staff.display_name

    def set_staff_telegram(self, email: str, telegram_user_id: str | None) -> None:
        with transaction(self._factory) as s:
            staff = s.execute(select(Staff).where(Staff.email == email.strip().lower())).scalar_one_or_none()
            if staff is None:
                raise NotFound(f"No staff account with e-mail {email}.")
            staff.telegram_user_id = telegram_user_id
            self._audit(s, "system", "staff.telegram_binding", detail={"staff_id": staff.id})

    def clinic_slug(self, clinic_id: int) -> str:
        with transaction(self._factory) as s:
            return s.execute(select(Clinic.slug).where(Clinic.id == clinic_id)).scalar_one()
