"""Handoff storage: a clinician taking over a patient's conversation, and giving it back."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.errors import NotFound, StoreError
from bot.store.models import (
    Handoff,
    RiskFlag,
    Staff,
)


class HandoffRepo(Repo):
    """Who (if anyone) has taken over a conversation."""

    def start_handoff(self, ref: str, staff_id: int, *, origin: str) -> int:
        """Record that a clinician takes over; requires an unresolved risk flag. Audited."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            staff = s.get(Staff, staff_id)
            if staff is None or staff.clinic_id != p.clinic_id:
                raise NotFound(f"No patient {ref!r}.")
            flag_id = s.execute(
                select(RiskFlag.id)
                .where(RiskFlag.patient_id == p.id, RiskFlag.status.in_(("open", "acknowledged")))
                .order_by(RiskFlag.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if flag_id is None:
                raise StoreError("A handoff needs an open risk flag for this patient.")
            active = s.execute(
                select(Handoff).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()
            if active is not None:
                raise StoreError("A clinician has already taken over this conversation.")
            handoff = Handoff(patient_id=p.id, flag_id=flag_id, staff_id=staff_id, started_at=self._clock())
            s.add(handoff)
            s.flush()
            self._audit(
                s,
                f"staff:{staff_id}",
                "handoff.start",
                patient_id=p.id,
                origin=origin,
                detail={"flag_id": flag_id},
            )
            return handoff.id

    def active_handoff_staff(self, ref: str) -> int | None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            return s.execute(
                select(Handoff.staff_id).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()

    def note_handoff_message(self, ref: str, staff_id: int, *, origin: str) -> None:
        """Audit that a clinician wrote to the patient (the words are in the encrypted transcript)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            self._audit(s, f"staff:{staff_id}", "handoff.message", patient_id=p.id, origin=origin)

    def end_handoff(self, ref: str, staff_id: int, *, origin: str) -> None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            handoff = s.execute(
                select(Handoff).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()
            if handoff is None:
                raise StoreError("No clinician has taken over this conversation.")
            handoff.ended_at = self._clock()
            self._audit(s, f"staff:{staff_id}", "handoff.end", patient_id=p.id, origin=origin)
