"""Storage for clinic administration and staff second factors.

Administration is scoped to the admin's own clinic: staff
of another clinic, and their audit events, are NotFound. A therapist calling these is NotFound
too (the portal answers 404). Every change and every read of the audit log is itself audited.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot import totp
from bot.accounts import MIN_PASSWORD_LENGTH, hash_password
from bot.staff.sessions import end_sessions_in
from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.models import (
    AuditEvent,
    Patient,
    Staff,
)

ROLES = ("therapist", "admin")


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


TELEGRAM_USER_ID = re.compile(r"^[0-9]{1,20}$")


AUDIT_PAGE = 100


@dataclass(frozen=True)
class StaffRow:
    id: int
    email: str
    name: str
    role: str
    telegram_user_id: str | None
    totp: bool
    disabled: bool
    last_seen_at: datetime | None
    patients: int


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    patient_ref: str | None
    origin: str
    detail: dict[str, Any]


class StaffAdminRepo(Repo):
    """A clinic admin's staff management, the audit log, and each account's own security."""

    def _admin(self, s: Session, admin_id: int) -> Staff:
        from bot.store.errors import NotFound

        admin = s.get(Staff, admin_id)
        if admin is None or admin.role != "admin" or admin.disabled_at is not None:
            raise NotFound("Only a clinic admin can do that.")
        return admin

    def _clinic_staff(self, s: Session, admin: Staff, staff_id: int) -> Staff:
        from bot.store.errors import NotFound

        staff = s.get(Staff, staff_id)
        if staff is None or staff.clinic_id != admin.clinic_id:
            raise NotFound("No such staff account.")
        return staff

    def staff_list(self, admin_id: int) -> list[StaffRow]:
        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            counts = dict(
                s.execute(
                    select(Patient.therapist_id, func.count(Patient.id))
                    .where(Patient.clinic_id == admin.clinic_id, Patient.status != "deleted")
                    .group_by(Patient.therapist_id)
                ).all()
            )
            rows = [
                StaffRow(
                    st.id,
                    st.email,
                    st.display_name,
                    st.role,
                    st.telegram_user_id,
                    st.totp_enabled_at is not None,
                    st.disabled_at is not None,
                    st.last_seen_at,
                    counts.get(st.id, 0),
                )
                for st in s.execute(
                    select(Staff).where(Staff.clinic_id == admin.clinic_id).order_by(Staff.display_name)
                ).scalars()
            ]
            self._audit(s, f"staff:{admin_id}", "read.staff_list", origin="portal")
            return rows

    def add_staff(self, admin_id: int, *, email: str, name: str, role: str, password: str) -> int:
        """Create an account in the admin's clinic. Bad input is a StoreError naming the field."""
        from bot.store.errors import StoreError

        email, name = email.strip().lower(), name.strip()
        if not EMAIL.match(email) or len(email) > 254:
            raise StoreError("Give a valid e-mail address.")
        if not name or len(name) > 200:
            raise StoreError("Give a name (200 characters at most).")
        if role not in ROLES:
            raise StoreError("The role must be therapist or admin.")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise StoreError(f"The first password must be at least {MIN_PASSWORD_LENGTH} characters long.")
        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            if s.execute(select(Staff.id).where(Staff.email == email)).first():
                raise StoreError("An account with that e-mail already exists.")
            staff = Staff(
                clinic_id=admin.clinic_id,
                email=email,
                display_name=name,
                role=role,
                password_hash=hash_password(password),
                created_at=self._clock(),
            )
            s.add(staff)
            s.flush()
            self._audit(
                s,
                f"staff:{admin_id}",
                "staff.create",
                origin="portal",
                detail={"staff_id": staff.id, "role": role},
            )
            return staff.id

    def update_staff(
        self,
        admin_id: int,
        staff_id: int,
        *,
        role: str | None = None,
        telegram_user_id: str | None = None,
        disabled: bool | None = None,
        reset_totp: bool = False,
    ) -> None:
        """Change one account. An admin cannot disable or demote themselves, so a clinic always
        keeps an admin who can sign in."""
        from bot.store.errors import StoreError

        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            staff = self._clinic_staff(s, admin, staff_id)
            changes: dict[str, Any] = {}
            if role is not None and role != staff.role:
                if role not in ROLES:
                    raise StoreError("The role must be therapist or admin.")
                if staff.id == admin.id:
                    raise StoreError("You cannot change your own role; ask another admin.")
                staff.role = changes["role"] = role
            if telegram_user_id is not None:
                value = telegram_user_id.strip()
                if value and not TELEGRAM_USER_ID.match(value):
                    raise StoreError(
                        "A Telegram user id is a number (the alert bot tells an unregistered person theirs)."
                    )
                if (staff.telegram_user_id or "") != value:
                    staff.telegram_user_id = value or None
                    changes["telegram_user_id"] = "set" if value else "cleared"
            if disabled is not None and disabled != (staff.disabled_at is not None):
                if staff.id == admin.id:
                    raise StoreError("You cannot disable your own account.")
                staff.disabled_at = self._clock() if disabled else None
                changes["disabled"] = disabled
                if disabled:  # every open portal session of theirs ends now
                    changes["sessions_ended"] = end_sessions_in(s, staff.id)
            if reset_totp and staff.totp_secret_enc is not None:
                staff.totp_secret_enc = staff.totp_enabled_at = staff.totp_last_step = None
                changes["totp"] = "reset"
            if changes:
                self._audit(
                    s,
                    f"staff:{admin_id}",
                    "staff.update",
                    origin="portal",
                    detail={"staff_id": staff.id, **changes},
                )

    def audit_log(
        self,
        admin_id: int,
        *,
        patient: str = "",
        actor_id: int | None = None,
        action: str = "",
        before: int | None = None,
        limit: int = AUDIT_PAGE,
    ) -> list[AuditRow]:
        """The clinic's audit events, newest first: those about its patients and those by its
        staff. `action` matches a prefix ("read.", "export."). Reading it is audited too."""
        from bot.store.errors import StoreError

        if action and not re.fullmatch(r"[a-z_.]{1,64}", action):
            raise StoreError("Filter actions by a prefix such as read. or export.")
        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            staff_ids = list(s.execute(select(Staff.id).where(Staff.clinic_id == admin.clinic_id)).scalars())
            actors = [f"staff:{i}" for i in staff_ids]
            clinic_patients = select(Patient.id).where(Patient.clinic_id == admin.clinic_id)
            q = select(AuditEvent, Patient.ref).outerjoin(Patient, Patient.id == AuditEvent.patient_id)
            q = q.where(or_(AuditEvent.patient_id.in_(clinic_patients), AuditEvent.actor.in_(actors)))
            if patient:
                q = q.where(Patient.ref == patient.strip())
            if actor_id is not None:
                if actor_id not in staff_ids:
                    raise StoreError("Choose a member of your clinic's staff.")
                q = q.where(AuditEvent.actor == f"staff:{actor_id}")
            if action:
                q = q.where(AuditEvent.action.startswith(action, autoescape=True))
            if before is not None:
                q = q.where(AuditEvent.id < before)
            rows = [
                AuditRow(e.id, e.at, e.actor, e.action, ref, e.origin, json.loads(e.detail or "{}"))
                for e, ref in s.execute(q.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 500)))).all()
            ]
            self._audit(
                s,
                f"staff:{admin_id}",
                "read.audit_log",
                origin="portal",
                detail={"patient": patient or None, "actor": actor_id, "action": action or None},
            )
            return rows

    def totp_begin(self, staff_id: int) -> str:
        """Store a new, not yet enabled secret for this account and return it (to show once)."""
        from bot.store.errors import StoreError

        secret = totp.new_secret()
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            if staff.totp_enabled_at is not None:
                raise StoreError("Two-step sign-in is already on. Turn it off first to set up a new device.")
            staff.totp_secret_enc = self._keyring.wrap(secret.encode("ascii"))
            staff.totp_last_step = None
            return secret

    def totp_pending_secret(self, staff_id: int) -> str | None:
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            if staff is None or staff.totp_secret_enc is None or staff.totp_enabled_at is not None:
                return None
            return self._keyring.unwrap(staff.totp_secret_enc).decode("ascii")

    def totp_check(self, staff_id: int, code: str, *, enable: bool = False) -> bool:
        """Whether `code` is this account's current code; each code is accepted once. With
        `enable`, a correct code for the pending secret turns two-step sign-in on."""
        with transaction(self._factory) as s:
            staff = s.execute(
                select(Staff).where(Staff.id == staff_id).with_for_update()
            ).scalar_one_or_none()
            if staff is None or staff.totp_secret_enc is None:
                return False
            if enable != (staff.totp_enabled_at is None):
                return False
            secret = self._keyring.unwrap(staff.totp_secret_enc).decode("ascii")
            step = totp.matching_step(secret, code, self._clock().timestamp(), after=staff.totp_last_step)
            if step is None:
                self._audit(s, f"staff:{staff_id}", "totp.failed", origin="portal")
                return False
            staff.totp_last_step = step
            if enable:
                staff.totp_enabled_at = self._clock()
                self._audit(s, f"staff:{staff_id}", "totp.enabled", origin="portal")
            return True

    def totp_disable(self, staff_id: int, code: str) -> bool:
        """Turn two-step sign-in off; the current code is required, so a walked-away session
        cannot remove it."""
        if not self.totp_check(staff_id, code):
            return False
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            staff.totp_secret_enc = staff.totp_enabled_at = staff.totp_last_step = None
            self._audit(s, f"staff:{staff_id}", "totp.disabled", origin="portal")
        return True

    def change_password(self, staff_id: int, current: str, new: str, *, keep_session: str = "") -> None:
        """Change one's own password; the current one is required. Refusals are StoreErrors.
        Every portal session of theirs but `keep_session` (the one asking) ends."""
        from bot.accounts import verify_password
        from bot.store.errors import StoreError

        if len(new) < MIN_PASSWORD_LENGTH:
            raise StoreError(f"The new password must be at least {MIN_PASSWORD_LENGTH} characters long.")
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            right = (
                staff is not None and staff.password_hash and verify_password(staff.password_hash, current)
            )
            if not right:  # recorded in its own transaction: the refusal below would roll it back
                self._audit(s, f"staff:{staff_id}", "password.change_failed", origin="portal")
        if not right:
            raise StoreError("The current password is not right.")
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            if current == new:
                raise StoreError("The new password must differ from the current one.")
            staff.password_hash = hash_password(new)
            # Every other session (another browser, a copied cookie) ends with the old password.
            ended = end_sessions_in(s, staff_id, keep=keep_session)
            self._audit(
                s, f"staff:{staff_id}", "password.change", origin="portal", detail={"sessions_ended": ended}
            )

    def end_staff_sessions(self, admin_id: int, staff_id: int) -> int:
        """An admin signs a person of their clinic out everywhere (a lost laptop); audited."""
        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            staff = self._clinic_staff(s, admin, staff_id)
            n = end_sessions_in(s, staff.id)
            self._audit(
                s,
                f"staff:{admin_id}",
                "sessions.end",
                origin="portal",
                detail={"staff_id": staff.id, "n": n, "reason": "admin"},
            )
            return n

    def reassign_patient(self, admin_id: int, ref: str, therapist_id: int) -> None:
        """Give a patient to another active therapist (or admin) of the same clinic."""
        from bot.store.errors import NotFound, StoreError

        with transaction(self._factory) as s:
            admin = self._admin(s, admin_id)
            p = s.execute(
                select(Patient).where(Patient.ref == ref, Patient.clinic_id == admin.clinic_id)
            ).scalar_one_or_none()
            if p is None or p.status == "deleted":
                raise NotFound("No such patient.")
            target = self._clinic_staff(s, admin, therapist_id)
            if target.disabled_at is not None:
                raise StoreError(f"{target.display_name}'s account is disabled; choose someone active.")
            if target.id == p.therapist_id:
                return
            previous, p.therapist_id = p.therapist_id, target.id
            self._audit(
                s,
                f"staff:{admin_id}",
                "patient.reassign",
                patient_id=p.id,
                origin="portal",
                detail={"from": previous, "to": target.id},
            )
