"""Requests a patient makes in the chat for the clinic to act on: their data deleted or sent
to them, or a non-urgent word with their therapist.

Every change and every staff read is audited. A request is
carried out by staff (`interlude patient export|delete`, or the portal) and then marked done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.staff.access import ClinicScopedRepo
from bot.store.db import transaction
from bot.store.models import (
    Patient,
    PatientRequest,
)

KINDS = ("delete", "export", "contact")


#: What the patient is told about when the clinic acts (also shown in the portal).
DAYS_TO_ACT = {"delete": 30, "export": 30, "contact": 2}


@dataclass(frozen=True)
class RequestView:
    id: int
    ref: str
    kind: str
    status: str
    created_at: datetime
    done_at: datetime | None


class RequestRepo(ClinicScopedRepo):
    """Patients' requests (delete, export, contact) and their follow-up by staff."""

    def record_patient_request(self, ref: str, kind: str, *, origin: str) -> int:
        """The patient asked (and confirmed) in the chat; one open request per kind."""
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            existing = s.execute(
                select(PatientRequest).where(
                    PatientRequest.patient_id == p.id,
                    PatientRequest.kind == kind,
                    PatientRequest.status == "open",
                )
            ).scalar_one_or_none()
            if existing is not None:
                return existing.id
            row = PatientRequest(
                patient_id=p.id, kind=kind, status="open", channel=origin, created_at=self._clock()
            )
            s.add(row)
            s.flush()
            self._audit(
                s, f"patient:{ref}", f"request.{kind}", patient_id=p.id, origin=origin, detail={"id": row.id}
            )
            return row.id

    def patient_requests(self, ref: str, *, actor: str, origin: str) -> list[RequestView]:
        """One patient's requests, newest first (audited read)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(PatientRequest)
                .where(PatientRequest.patient_id == p.id)
                .order_by(PatientRequest.created_at.desc(), PatientRequest.id.desc())
            ).scalars()
            views = [RequestView(r.id, ref, r.kind, r.status, r.created_at, r.done_at) for r in rows]
            self._audit(s, actor, "request.read", patient_id=p.id, origin=origin)
            return views

    def open_requests_for(self, staff_id: int) -> list[RequestView]:
        """Open requests of the patients this staff member sees (their own; all for an admin)."""
        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            rows = s.execute(
                select(PatientRequest, Patient)
                .join(Patient, Patient.id == PatientRequest.patient_id)
                .where(self._scope(staff), PatientRequest.status == "open")
                .order_by(PatientRequest.created_at)
            ).all()
            views = []
            for r, p in rows:
                views.append(RequestView(r.id, p.ref, r.kind, r.status, r.created_at, r.done_at))
                self._audit(s, f"staff:{staff_id}", "request.read", patient_id=p.id, origin="portal")
            return views

    def complete_requests(self, ref: str, kind: str, *, actor: str, origin: str) -> int:
        """Mark the patient's open requests of this kind done (after the export or deletion)."""
        with transaction(self._factory) as s:
            p = s.execute(select(Patient).where(Patient.ref == ref)).scalar_one_or_none()
            if p is None:
                return 0
            rows = s.execute(
                select(PatientRequest).where(
                    PatientRequest.patient_id == p.id,
                    PatientRequest.kind == kind,
                    PatientRequest.status == "open",
                )
            ).scalars()
            n = 0
            for r in rows:
                r.status, r.done_at, r.done_by = "done", self._clock(), actor[:120]
                n += 1
            if n:
                self._audit(s, actor, f"request.{kind}.done", patient_id=p.id, origin=origin, detail={"n": n})
            return n
