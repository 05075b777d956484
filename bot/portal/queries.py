"""The store API for the therapist portal: staff-scoped, audited reads and clinician actions.

Every method takes the acting staff member's id and sees only
what that person may see: a therapist their own patients, a clinic admin their clinic's. Any
other patient is NotFound (the portal answers 404, never "forbidden", so ids do not leak).
Every read that returns patient data writes an audit event naming the staff member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.accounts import verify_password
from bot.portal.rows import SEVERITY_RANK, FlagRow, PortalRepo
from bot.store.db import transaction
from bot.store.models import (
    CheckIn,
    Clinic,
    FlagNote,
    Handoff,
    InstrumentResult,
    Patient,
    RasaEvent,
    RiskFlag,
    RiskSignal,
    ScheduledCheckin,
    Staff,
)

QUIET_AFTER = timedelta(days=7)


MAX_NOTE_CHARS = 4_000


@dataclass(frozen=True)
class PatientRow:
    ref: str
    name: str
    therapist: str
    timezone: str
    open_flag: str | None
    last_activity: datetime | None
    next_session: datetime | None


@dataclass
class Today:
    flags: list[FlagRow]
    completed: list[dict[str, Any]]
    quiet: list[PatientRow]
    since: datetime | None
    #: Check-ins that expired unanswered since the last visit.
    missed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FlagDetail:
    flag: FlagRow
    signals: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    handoff_by: str | None
    acknowledged_by: str | None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: C-SSRS screener runs asked in chat for this flag (answers, or "declined").
    screeners: list[dict[str, Any]] = field(default_factory=list)


class PortalQueries(PortalRepo):
    """The portal's lists and flag pages, and clinicians' notes on flags."""

    def authenticate(self, email: str, password: str):  # type: ignore[no-untyped-def]
        """The staff account (StaffView) for these credentials, or None. Not audited here: the
        portal audits logins and failures with the client's address."""
        with transaction(self._factory) as s:
            st = s.execute(select(Staff).where(Staff.email == email.strip().lower())).scalar_one_or_none()
            ok = st is not None and st.password_hash and verify_password(st.password_hash, password)
            if not ok or st.disabled_at is not None:
                return None
            return self._staff_view_of(st)

    def staff_view(self, staff_id: int):  # type: ignore[no-untyped-def]
        """The account, or None if it does not exist or was disabled (the portal then signs out)."""
        with transaction(self._factory) as s:
            st = s.get(Staff, staff_id)
            if st is None or st.disabled_at is not None:
                return None
            return self._staff_view_of(st)

    def start_visit(self, staff_id: int) -> datetime | None:
        """Mark a new portal visit; return when the previous one began."""
        with transaction(self._factory) as s:
            st = s.get(Staff, staff_id)
            previous, st.last_seen_at = st.last_seen_at, self._clock()
            return previous

    def audit_staff(
        self, staff_id: int | None, action: str, *, origin: str, detail: dict | None = None
    ) -> None:
        with transaction(self._factory) as s:
            self._audit(
                s, f"staff:{staff_id}" if staff_id else "anonymous", action, origin=origin, detail=detail
            )

    def clinic_name_of_staff(self, staff_id: int) -> str:

        with transaction(self._factory) as s:
            return s.execute(
                select(Clinic.name).join(Staff, Staff.clinic_id == Clinic.id).where(Staff.id == staff_id)
            ).scalar_one()

    def therapists(self, clinic_id: int) -> list[tuple[int, str]]:
        with transaction(self._factory) as s:
            rows = s.execute(
                select(Staff.id, Staff.display_name)
                .where(Staff.clinic_id == clinic_id, Staff.disabled_at.is_(None))
                .order_by(Staff.display_name)
            ).all()
            return [(i, n) for i, n in rows]

    def can_see_patient(self, staff_id: int, ref: str) -> bool:
        from bot.store.errors import NotFound

        with transaction(self._factory) as s:
            try:
                self._visible_patient(s, self._staff(s, staff_id), ref)
                return True
            except NotFound:
                return False

    def patients_for(self, staff_id: int) -> list[PatientRow]:
        now = self._clock()
        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            out = []
            for p in s.execute(select(Patient).where(self._scope(staff)).order_by(Patient.id)).scalars():
                therapist = s.get(Staff, p.therapist_id)
                flag = (
                    s.execute(
                        select(RiskFlag.severity).where(
                            RiskFlag.patient_id == p.id, RiskFlag.status.in_(("open", "acknowledged"))
                        )
                    )
                    .scalars()
                    .all()
                )
                last = s.execute(
                    select(func.max(CheckIn.completed_at)).where(CheckIn.patient_id == p.id)
                ).scalar()
                last_msg = s.execute(
                    select(func.max(RasaEvent.timestamp)).where(
                        RasaEvent.sender_id == p.ref, RasaEvent.type_name == "user"
                    )
                ).scalar()
                if last_msg is not None:
                    from datetime import UTC

                    msg_at = datetime.fromtimestamp(last_msg, UTC)
                    last = max(last, msg_at) if last else msg_at
                nxt = self._next_session(s, p.id, now)
                out.append(
                    PatientRow(
                        p.ref,
                        self._decrypt(p, p.display_name_enc) or p.ref,
                        therapist.display_name if therapist else "-",
                        p.timezone,
                        max(flag, key=lambda sev: SEVERITY_RANK[sev]) if flag else None,
                        last,
                        nxt,
                    )
                )
            self._audit(s, f"staff:{staff_id}", "read.patient_list", origin="portal", detail={"n": len(out)})
            return out

    def today_for(self, staff_id: int, since: datetime | None) -> Today:
        now = self._clock()
        patients = {row.ref: row for row in self.patients_for(staff_id)}
        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            flags = []
            for flag, p in s.execute(
                select(RiskFlag, Patient)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .where(
                    self._scope(staff),
                    RiskFlag.status.in_(("open", "acknowledged")),
                )
            ).all():
                flags.append(self._flag_row(s, flag, p))
                self._audit_flag_read(s, staff_id, p, flag)
            far = datetime.max.replace(tzinfo=now.tzinfo)
            flags.sort(key=lambda f: (-SEVERITY_RANK[f.severity], f.deadline_at or far, f.created_at))
            completed = []
            if since is not None:
                for c, p in s.execute(
                    select(CheckIn, Patient)
                    .join(Patient, Patient.id == CheckIn.patient_id)
                    .where(self._scope(staff), CheckIn.completed_at >= since)
                    .order_by(CheckIn.completed_at.desc())
                ).all():
                    completed.append(
                        {
                            "ref": p.ref,
                            "name": patients[p.ref].name,
                            "prompt_set": c.prompt_set,
                            "status": c.status,
                            "at": c.completed_at,
                        }
                    )
            missed = []
            if since is not None:
                for m, p in s.execute(
                    select(ScheduledCheckin, Patient)
                    .join(Patient, Patient.id == ScheduledCheckin.patient_id)
                    .where(
                        self._scope(staff),
                        ScheduledCheckin.status == "expired",
                        ScheduledCheckin.closed_at >= since,
                    )
                    .order_by(ScheduledCheckin.due_at.desc())
                ).all():
                    missed.append(
                        {
                            "ref": p.ref,
                            "name": patients[p.ref].name,
                            "prompt_set": m.prompt_set,
                            "at": m.due_at,
                            "reason": m.reason or "unanswered",
                        }
                    )
        quiet = [
            r for r in patients.values() if r.last_activity is None or r.last_activity < now - QUIET_AFTER
        ]
        return Today(flags, completed, quiet, since, missed)

    def flag_detail(self, staff_id: int, flag_id: int) -> FlagDetail:
        from bot.store.errors import NotFound

        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            flag = s.get(RiskFlag, flag_id)
            p = s.get(Patient, flag.patient_id) if flag is not None else None
            if (
                flag is None
                or p is None
                or not s.execute(select(Patient.id).where(Patient.id == p.id, self._scope(staff))).first()
            ):
                raise NotFound("No such risk flag.")
            signals = [
                {
                    "at": sig.created_at,
                    "severity": sig.severity,
                    "source": sig.source,
                    "text": self._decrypt(p, sig.text_enc),
                    "rules": json.loads(sig.rules),
                    "lowering": json.loads(sig.lowering),
                    "message_id": sig.message_id,
                    "instrument": self._phq9_at(s, p.id, sig.created_at)
                    if sig.source == "phq9_item9"
                    else None,
                    "built_on": sig.context_message_id,
                }
                for sig in s.execute(
                    select(RiskSignal).where(RiskSignal.flag_id == flag.id).order_by(RiskSignal.id)
                ).scalars()
            ]
            # Risk across turns: point a signal at the earlier message it built on.
            by_message = {sig["message_id"]: n for n, sig in enumerate(signals, 1) if sig["message_id"]}
            for sig in signals:
                sig["built_on_index"] = by_message.get(sig["built_on"]) if sig["built_on"] else None
            notes = [
                {
                    "at": n.created_at,
                    "by": s.get(Staff, n.staff_id).display_name,
                    "text": self._decrypt(p, n.text_enc),
                }
                for n in s.execute(
                    select(FlagNote).where(FlagNote.flag_id == flag.id).order_by(FlagNote.id)
                ).scalars()
            ]
            handoff = s.execute(
                select(Staff.display_name)
                .join(Handoff, Handoff.staff_id == Staff.id)
                .where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()
            ack = s.get(Staff, flag.acknowledged_by).display_name if flag.acknowledged_by else None
            self._audit_flag_read(s, staff_id, p, flag)
            detail = FlagDetail(self._flag_row(s, flag, p), signals, notes, handoff, ack)
            detail.screeners = self._screener_rows(s, flag.id, p)
            return detail

    @staticmethod
    def _phq9_at(s: Session, patient_id: int, at: datetime) -> dict[str, Any] | None:
        """The PHQ-9 whose item 9 raised a signal at `at`: saved just before the flag is written
        (the check-in is stored first, then the safety path runs), so the latest up to a minute
        after it."""
        r = s.execute(
            select(InstrumentResult)
            .where(
                InstrumentResult.patient_id == patient_id,
                InstrumentResult.instrument == "phq9",
                InstrumentResult.created_at <= at + timedelta(minutes=1),
            )
            .order_by(InstrumentResult.created_at.desc(), InstrumentResult.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if r is None:
            return None
        return {
            "instrument": "phq9",
            "items": json.loads(r.item_answers),
            "total": r.total,
            "band": r.band,
            "at": r.created_at,
        }

    def add_flag_note(self, staff_id: int, flag_id: int, text: str) -> None:
        from bot.store.errors import StoreError

        text = text.strip()
        if not text:
            raise StoreError("The note is empty.")
        if len(text) > MAX_NOTE_CHARS:
            raise StoreError(f"Notes are limited to {MAX_NOTE_CHARS:,} characters.")
        detail = self.flag_detail(staff_id, flag_id)  # visibility check (and audited read)
        with transaction(self._factory) as s:
            p = s.execute(select(Patient).where(Patient.ref == detail.flag.patient_ref)).scalar_one()
            s.add(
                FlagNote(
                    flag_id=flag_id,
                    staff_id=staff_id,
                    text_enc=self._encrypt(p, text),
                    created_at=self._clock(),
                )
            )
            self._audit(
                s,
                f"staff:{staff_id}",
                "risk_flag.note",
                patient_id=p.id,
                origin="portal",
                detail={"flag_id": flag_id},
            )

    def flag_patient_ref(self, staff_id: int, flag_id: int) -> str:
        """The patient of a flag this staff member may see (NotFound otherwise). Not audited:
        it returns only the pseudonymous id, to check access before an action."""
        from bot.store.errors import NotFound

        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            row = s.execute(
                select(Patient.ref)
                .join(RiskFlag, RiskFlag.patient_id == Patient.id)
                .where(RiskFlag.id == flag_id, self._scope(staff))
            ).first()
            if row is None:
                raise NotFound("No such risk flag.")
            return row[0]
