"""The store API for the therapist portal: staff-scoped, audited reads and clinician actions.

Mixed into `bot.store.api.Store`. Every method takes the acting staff member's id and sees only
what that person may see: a therapist their own patients, a clinic admin their clinic's. Any
other patient is NotFound (the portal answers 404, never "forbidden", so ids do not leak).
Every read that returns patient data writes an audit event naming the staff member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from bot.accounts import verify_password
from bot.store.db import transaction
from bot.store.models import (
    AlertDelivery,
    CheckIn,
    DosingSession,
    FlagNote,
    Handoff,
    InstrumentResult,
    JournalAnswer,
    Patient,
    RasaEvent,
    RiskFlag,
    RiskSignal,
    ScheduledCheckin,
    Staff,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SEVERITY_RANK = {"none": 0, "low": 1, "moderate": 2, "high": 3, "critical": 4}
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


class PortalStoreMixin:
    """Requires `_factory`, `_clock`, `_audit`, `_decrypt`, `_encrypt` (see Store)."""

    # ------------------------------------------------------------------ accounts
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

    @staticmethod
    def _staff_view_of(st: Staff):  # type: ignore[no-untyped-def]
        import hashlib

        from bot.store.api import StaffView

        stamp = hashlib.sha256((st.password_hash or "").encode()).hexdigest()[:16]
        return StaffView(
            st.id, st.clinic_id, st.email, st.display_name, st.role, st.totp_enabled_at is not None, stamp
        )

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
        from bot.store.models import Clinic

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

    # ------------------------------------------------------------------ who sees what
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
        from bot.store.api import NotFound

        staff = s.get(Staff, staff_id)
        if staff is None:
            raise NotFound("No such staff account.")
        return staff

    def _visible_patient(self, s: Session, staff: Staff, ref: str) -> Patient:
        from bot.store.api import NotFound

        p = s.execute(select(Patient).where(Patient.ref == ref, self._scope(staff))).scalar_one_or_none()
        if p is None:
            raise NotFound("No such patient.")
        return p

    def can_see_patient(self, staff_id: int, ref: str) -> bool:
        from bot.store.api import NotFound

        with transaction(self._factory) as s:
            try:
                self._visible_patient(s, self._staff(s, staff_id), ref)
                return True
            except NotFound:
                return False

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

    # ------------------------------------------------------------------ pages
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

    def patient_overview(self, staff_id: int, ref: str) -> dict[str, Any]:
        """Identity, sessions, and the check-ins grouped by the dosing session they follow."""
        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            p = self._visible_patient(s, staff, ref)
            sessions = list(
                s.execute(
                    select(DosingSession)
                    .where(DosingSession.patient_id == p.id)
                    .order_by(DosingSession.planned_at)
                ).scalars()
            )
            checkins = []
            for c in s.execute(
                select(CheckIn).where(CheckIn.patient_id == p.id).order_by(CheckIn.completed_at)
            ).scalars():
                answers = [
                    {"key": a.prompt_key, "text": self._decrypt(p, a.text_enc), "value": a.numeric_value}
                    for a in s.execute(
                        select(JournalAnswer)
                        .where(JournalAnswer.checkin_id == c.id)
                        .order_by(JournalAnswer.id)
                    ).scalars()
                ]
                checkins.append(
                    {
                        "id": c.id,
                        "prompt_set": c.prompt_set,
                        "status": c.status,
                        "at": c.completed_at,
                        "answers": answers,
                    }
                )
            scores = [
                {
                    "instrument": r.instrument,
                    "total": r.total,
                    "band": r.band,
                    "at": r.created_at,
                    "items": json.loads(r.item_answers),
                    "checkin_id": r.checkin_id,
                }
                for r in s.execute(
                    select(InstrumentResult)
                    .where(InstrumentResult.patient_id == p.id)
                    .order_by(InstrumentResult.id)
                ).scalars()
            ]
            flags = [
                self._flag_row(s, f, p)
                for f in s.execute(
                    select(RiskFlag).where(RiskFlag.patient_id == p.id).order_by(RiskFlag.id)
                ).scalars()
            ]
            flag_notes: dict[int, list[dict[str, Any]]] = {}
            for n, by in s.execute(
                select(FlagNote, Staff.display_name)
                .join(Staff, Staff.id == FlagNote.staff_id)
                .join(RiskFlag, RiskFlag.id == FlagNote.flag_id)
                .where(RiskFlag.patient_id == p.id)
                .order_by(FlagNote.id)
            ).all():
                flag_notes.setdefault(n.flag_id, []).append(
                    {"at": n.created_at, "by": by, "text": self._decrypt(p, n.text_enc)}
                )
            # Check-ins the patient was sent but never answered (expired), so gaps are visible.
            missed = [
                {"prompt_set": m.prompt_set, "at": m.due_at, "reason": m.reason or "not answered"}
                for m in s.execute(
                    select(ScheduledCheckin)
                    .where(ScheduledCheckin.patient_id == p.id, ScheduledCheckin.status == "expired")
                    .order_by(ScheduledCheckin.due_at)
                ).scalars()
            ]
            # Group by period: before the first session, then after each session until the next.
            periods: list[dict[str, Any]] = [
                {"session": None, "checkins": [], "scores": [], "flags": [], "missed": []}
            ]
            for sess in sessions:
                periods.append({"session": sess, "checkins": [], "scores": [], "flags": [], "missed": []})

            def period_for(at: datetime | None) -> dict[str, Any]:
                chosen = periods[0]
                for period in periods[1:]:
                    if at is not None and period["session"].planned_at <= at:
                        chosen = period
                return chosen

            for c in checkins:
                period_for(c["at"])["checkins"].append(c)
            for r in scores:
                period_for(r["at"])["scores"].append(r)
            for f in flags:
                period_for(f.created_at)["flags"].append(f)
            for m in missed:
                period_for(m["at"])["missed"].append(m)
            self._audit(s, f"staff:{staff_id}", "read.timeline", patient_id=p.id, origin="portal")
            return {
                "ref": p.ref,
                "name": self._decrypt(p, p.display_name_enc) or p.ref,
                "timezone": p.timezone,
                "locale": p.locale,
                "therapist": s.get(Staff, p.therapist_id).display_name,
                "therapist_id": p.therapist_id,
                "periods": [
                    x for x in reversed(periods) if x["session"] or x["checkins"] or x["flags"] or x["missed"]
                ],
                "sessions": [
                    {"id": x.id, "at": x.planned_at, "route": x.route, "status": x.status} for x in sessions
                ],
                "scores": scores,
                "flag_notes": flag_notes,
                "open_flag": next((f for f in reversed(flags) if f.status in ("open", "acknowledged")), None),
            }

    def transcript_for(self, staff_id: int, ref: str) -> list[dict[str, Any]]:
        """The conversation, decrypted, with each risk-flagged patient message marked with the
        rules that fired."""
        from datetime import UTC

        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            p = self._visible_patient(s, staff, ref)
            flagged: dict[str, list[dict[str, Any]]] = {}
            flag_of: dict[str, int] = {}
            for sig in s.execute(
                select(RiskSignal)
                .join(RiskFlag, RiskFlag.id == RiskSignal.flag_id)
                .where(RiskFlag.patient_id == p.id)
            ).scalars():
                if sig.message_id:
                    flag_of[sig.message_id] = sig.flag_id
                    flagged[sig.message_id] = [
                        {"rule": r.get("rule"), "severity": r.get("severity")} for r in json.loads(sig.rules)
                    ] + [{"rule": "severity", "severity": sig.severity}]
            out = []
            for e, event in self._messages(s, ref):
                text = event.get("text")
                meta = event.get("metadata") or {}
                if not text or (e.type_name == "user" and (text.startswith("/") or meta.get("is_external"))):
                    continue  # button payloads, and what Interlude sent itself through Rasa's API
                nested = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
                out.append(
                    {
                        "at": datetime.fromtimestamp(e.timestamp, UTC) if e.timestamp else None,
                        "from": "patient"
                        if e.type_name == "user"
                        else (
                            "clinician" if (meta.get("from") or nested.get("from")) == "clinician" else "bot"
                        ),
                        "text": text,
                        "id": event.get("message_id"),
                        "flag": flagged.get(event.get("message_id") or ""),
                        "flag_id": flag_of.get(event.get("message_id") or ""),
                    }
                )
            self._audit(s, f"staff:{staff_id}", "read.transcript", patient_id=p.id, origin="portal")
            return out

    def flag_detail(self, staff_id: int, flag_id: int) -> FlagDetail:
        from bot.store.api import NotFound

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
        from bot.store.api import StoreError

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
        from bot.store.api import NotFound

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

    def trends_for(self, staff_id: int, ref: str) -> dict[str, Any]:
        """Mood answers (any check-in's), PHQ-9 and GAD-7 totals with their item answers, and
        session dates."""
        with transaction(self._factory) as s:
            p = self._visible_patient(s, self._staff(s, staff_id), ref)
            mood = [
                (a.created_at, a.numeric_value)
                for a in s.execute(
                    select(JournalAnswer)
                    .where(
                        JournalAnswer.patient_id == p.id,
                        JournalAnswer.prompt_key == "mood",
                        JournalAnswer.numeric_value.is_not(None),
                    )
                    .order_by(JournalAnswer.created_at)
                ).scalars()
            ]
            scores: dict[str, list[tuple[datetime, int, str, list[int]]]] = {"phq9": [], "gad7": []}
            for r in s.execute(
                select(InstrumentResult)
                .where(InstrumentResult.patient_id == p.id)
                .order_by(InstrumentResult.created_at)
            ).scalars():
                scores.setdefault(r.instrument, []).append(
                    (r.created_at, r.total, r.band, json.loads(r.item_answers))
                )
            sessions = [
                d.planned_at
                for d in s.execute(
                    select(DosingSession)
                    .where(DosingSession.patient_id == p.id, DosingSession.status != "cancelled")
                    .order_by(DosingSession.planned_at)
                ).scalars()
            ]
            self._audit(s, f"staff:{staff_id}", "read.trends", patient_id=p.id, origin="portal")
            return {
                "mood": mood,
                "phq9": scores["phq9"],
                "gad7": scores["gad7"],
                "sessions": sessions,
                "timezone": p.timezone,
                "name": self._decrypt(p, p.display_name_enc) or p.ref,
                "ref": p.ref,
            }

    def entries_csv_rows(self, staff_id: int, ref: str) -> list[list[str]]:
        """Every answer and score as CSV rows (header first). Audited as an export."""
        with transaction(self._factory) as s:
            p = self._visible_patient(s, self._staff(s, staff_id), ref)
            rows = [["recorded_at_utc", "kind", "prompt_set", "item", "value", "text", "band"]]
            for a, prompt_set in s.execute(
                select(JournalAnswer, CheckIn.prompt_set)
                .outerjoin(CheckIn, CheckIn.id == JournalAnswer.checkin_id)
                .where(JournalAnswer.patient_id == p.id)
                .order_by(JournalAnswer.created_at, JournalAnswer.id)
            ).all():
                value = "" if a.numeric_value is None else f"{a.numeric_value:g}"
                rows.append(
                    [
                        a.created_at.isoformat(),
                        "answer",
                        prompt_set or "",
                        a.prompt_key,
                        value,
                        self._decrypt(p, a.text_enc) or "",
                        "",
                    ]
                )
            for r in s.execute(
                select(InstrumentResult)
                .where(InstrumentResult.patient_id == p.id)
                .order_by(InstrumentResult.id)
            ).scalars():
                rows.append(
                    [r.created_at.isoformat(), "score", r.instrument, "total", str(r.total), "", r.band]
                )
            self._audit(
                s,
                f"staff:{staff_id}",
                "export.csv",
                patient_id=p.id,
                origin="portal",
                detail={"rows": len(rows) - 1},
            )
            return rows

    # ------------------------------------------------------------------ exports
    def session_prep_for(self, staff_id: int, ref: str, *, fallback_days: int = 30) -> dict[str, Any]:
        """What a clinician reads before the next session: everything since the last dosing
        session that has taken place (else the last `fallback_days`). Audited as an export."""
        now = self._clock()
        with transaction(self._factory) as s:
            staff = self._staff(s, staff_id)
            p = self._visible_patient(s, staff, ref)
            last = s.execute(
                select(DosingSession)
                .where(
                    DosingSession.patient_id == p.id,
                    DosingSession.status != "cancelled",
                    DosingSession.planned_at <= now,
                )
                .order_by(DosingSession.planned_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            since = last.planned_at if last is not None else now - timedelta(days=fallback_days)
            nxt = self._next_session(s, p.id, now)
            answers = s.execute(
                select(JournalAnswer, CheckIn.prompt_set)
                .outerjoin(CheckIn, CheckIn.id == JournalAnswer.checkin_id)
                .where(JournalAnswer.patient_id == p.id, JournalAnswer.created_at >= since)
                .order_by(JournalAnswer.created_at)
            ).all()
            mood = [
                (a.created_at, a.numeric_value)
                for a, _ in answers
                if a.prompt_key == "mood" and a.numeric_value is not None
            ]
            entries = [
                {"at": a.created_at, "prompt_set": ps or "", "key": a.prompt_key, "text": text}
                for a, ps in answers
                if (text := self._decrypt(p, a.text_enc)) and a.numeric_value is None
            ]
            scores: dict[str, list[dict[str, Any]]] = {"phq9": [], "gad7": []}
            for r in s.execute(
                select(InstrumentResult)
                .where(InstrumentResult.patient_id == p.id)
                .order_by(InstrumentResult.created_at)
            ).scalars():
                scores.setdefault(r.instrument, []).append(
                    {
                        "at": r.created_at,
                        "total": r.total,
                        "band": r.band,
                        "items": json.loads(r.item_answers),
                        "in_period": r.created_at >= since,
                    }
                )
            flags = [
                self._flag_row(s, f, p)
                for f in s.execute(
                    select(RiskFlag)
                    .where(
                        RiskFlag.patient_id == p.id,
                        (RiskFlag.created_at >= since) | RiskFlag.status.in_(("open", "acknowledged")),
                    )
                    .order_by(RiskFlag.created_at)
                ).scalars()
            ]
            self._audit(s, f"staff:{staff_id}", "export.session_prep_pdf", patient_id=p.id, origin="portal")
            return {
                "ref": p.ref,
                "name": self._decrypt(p, p.display_name_enc) or p.ref,
                "timezone": p.timezone,
                "therapist": s.get(Staff, p.therapist_id).display_name,
                "since": since,
                "since_session": last is not None,
                "next_session": nxt,
                "generated_at": now,
                "mood": mood,
                "entries": entries,
                "scores": scores,
                "flags": flags,
                "screeners": {f.id: self._screener_rows(s, f.id, p) for f in flags},
            }

    def instrument_results_for(self, staff_id: int, ref: str) -> dict[str, Any]:
        """Every scored PHQ-9 and GAD-7 with item answers, for the FHIR export. Audited."""
        with transaction(self._factory) as s:
            p = self._visible_patient(s, self._staff(s, staff_id), ref)
            results = [
                {
                    "id": r.id,
                    "instrument": r.instrument,
                    "items": json.loads(r.item_answers),
                    "total": r.total,
                    "band": r.band,
                    "at": r.created_at,
                }
                for r in s.execute(
                    select(InstrumentResult)
                    .where(InstrumentResult.patient_id == p.id)
                    .order_by(InstrumentResult.created_at, InstrumentResult.id)
                ).scalars()
            ]
            self._audit(
                s,
                f"staff:{staff_id}",
                "export.fhir",
                patient_id=p.id,
                origin="portal",
                detail={"results": len(results)},
            )
            return {"ref": p.ref, "results": results}
