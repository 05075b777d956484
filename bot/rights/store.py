"""Data rights: everything held about a patient (export), and crypto-shredding (delete)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from bot.flags.screener_runs import screener_rows
from bot.store.core import Repo, iso
from bot.store.db import transaction
from bot.store.models import (
    AuditEvent,
    ChannelIdentity,
    CheckIn,
    Consent,
    DosingSession,
    EnrollmentCode,
    InstrumentResult,
    JournalAnswer,
    RasaEvent,
    RiskFlag,
    RiskSignal,
    WebChatToken,
)


class DataRightsRepo(Repo):
    """A patient's export and deletion (both audited)."""

    def export_patient(self, ref: str, *, actor: str, origin: str) -> dict:
        """Everything held about one patient, decrypted, as JSON-ready data (audited)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)

            def rows(model, *order):  # type: ignore[no-untyped-def]
                return s.execute(select(model).where(model.patient_id == p.id).order_by(*order)).scalars()

            checkins = {
                c.id: {
                    "id": c.id,
                    "prompt_set": c.prompt_set,
                    "status": c.status,
                    "scheduled_for": iso(c.scheduled_for),
                    "started_at": iso(c.started_at),
                    "completed_at": iso(c.completed_at),
                    "answers": [],
                }
                for c in rows(CheckIn, CheckIn.id)
            }
            loose: list[dict] = []
            for a in rows(JournalAnswer, JournalAnswer.id):
                item = {
                    "prompt_key": a.prompt_key,
                    "text": self._decrypt(p, a.text_enc),
                    "value": a.numeric_value,
                    "at": iso(a.created_at),
                }
                (checkins[a.checkin_id]["answers"] if a.checkin_id in checkins else loose).append(item)
            flags = []
            for f in rows(RiskFlag, RiskFlag.id):
                signals = s.execute(
                    select(RiskSignal).where(RiskSignal.flag_id == f.id).order_by(RiskSignal.id)
                ).scalars()
                flags.append(
                    {
                        "id": f.id,
                        "severity": f.severity,
                        "categories": json.loads(f.categories),
                        "status": f.status,
                        "created_at": iso(f.created_at),
                        "acknowledged_at": iso(f.acknowledged_at),
                        "resolved_at": iso(f.resolved_at),
                        "signals": [
                            {
                                "at": iso(sig.created_at),
                                "severity": sig.severity,
                                "source": sig.source,
                                "text": self._decrypt(p, sig.text_enc),
                                "rules": json.loads(sig.rules),
                                "lowering": json.loads(sig.lowering),
                                "built_on_message": sig.context_message_id,
                            }
                            for sig in signals
                        ],
                        # The Columbia screener asked in chat for this flag (answers or "declined").
                        "screeners": [
                            {
                                k: (iso(v) if isinstance(v, datetime) else v)
                                for k, v in run.items()
                                if k != "items"
                            }
                            for run in screener_rows(s, f.id, p, self._decrypt)
                        ],
                    }
                )
            transcript = [
                {"at": e.timestamp, "from": e.type_name, "text": event.get("text")}
                for e, event in self._messages(s, ref)
            ]
            export = {
                "format": "interlude-patient-export/1",
                "exported_at": iso(self._clock()),
                "patient": {
                    "id": p.ref,
                    "display_name": self._decrypt(p, p.display_name_enc),
                    "timezone": p.timezone,
                    "locale": p.locale,
                    "status": p.status,
                    "created_at": iso(p.created_at),
                    "onboarded_at": iso(p.onboarded_at),
                },
                "consents": [
                    {"text_version": c.text_version, "accepted_at": iso(c.accepted_at)}
                    for c in rows(Consent, Consent.id)
                ],
                "dosing_sessions": [
                    {
                        "planned_at": iso(d.planned_at),
                        "held_at": iso(d.held_at),
                        "route": d.route,
                        "status": d.status,
                        "notes": self._decrypt(p, d.notes_enc),
                    }
                    for d in rows(DosingSession, DosingSession.planned_at)
                ],
                "checkins": list(checkins.values()),
                "answers_outside_checkins": loose,
                "instrument_results": [
                    {
                        "instrument": r.instrument,
                        "items": json.loads(r.item_answers),
                        "total": r.total,
                        "band": r.band,
                        "at": iso(r.created_at),
                    }
                    for r in rows(InstrumentResult, InstrumentResult.id)
                ],
                "risk_flags": flags,
                "transcript": transcript,
                "audit": [
                    {"at": iso(e.at), "actor": e.actor, "action": e.action, "origin": e.origin}
                    for e in s.execute(
                        select(AuditEvent).where(AuditEvent.patient_id == p.id).order_by(AuditEvent.id)
                    ).scalars()
                ],
            }
            self._audit(s, actor, "export.patient", patient_id=p.id, origin=origin)
            return export

    def delete_patient(self, ref: str, *, actor: str, origin: str) -> None:
        """Crypto-shred a patient: their data key, identity and channel bindings are removed,
        and Rasa's transcript rows deleted. Remaining ciphertext can never be read again."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            p.wrapped_key = None
            p.display_name_enc = None
            p.status = "deleted"
            for model in (ChannelIdentity, EnrollmentCode, WebChatToken):
                s.execute(model.__table__.delete().where(model.patient_id == p.id))
            s.execute(RasaEvent.__table__.delete().where(RasaEvent.sender_id == ref))
            self._audit(s, actor, "patient.delete", patient_id=p.id, origin=origin)
        self.core.vault.forget(ref)
