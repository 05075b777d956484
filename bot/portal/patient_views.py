"""The portal's pages about one patient: overview, transcript, trends, CSV, session prep, instruments.

Staff-scoped and audited like every portal read (see bot/staff/access.py and bot/portal/rows.py).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.portal.rows import PortalRepo
from bot.store.db import transaction
from bot.store.models import (
    CheckIn,
    DosingSession,
    FlagNote,
    InstrumentResult,
    JournalAnswer,
    RiskFlag,
    RiskSignal,
    ScheduledCheckin,
    Staff,
)


class PatientViews(PortalRepo):
    """One patient's pages in the portal."""

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
