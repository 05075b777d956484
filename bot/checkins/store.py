"""Check-ins' storage: journal answers (encrypted) and instrument results (PHQ-9, GAD-7, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.errors import StoreError, check_text
from bot.store.models import (
    CheckIn,
    InstrumentResult,
    JournalAnswer,
)


@dataclass(frozen=True)
class AnswerView:
    id: int
    checkin_id: int | None
    prompt_set: str | None
    prompt_key: str
    text: str | None
    value: float | None
    created_at: datetime


class CheckinRepo(Repo):
    """Check-ins, their answers and scored instruments."""

    def record_checkin(
        self,
        ref: str,
        prompt_set: str,
        answers: Iterable[tuple[str, str | None, float | None]],
        *,
        started_at: datetime | None = None,
        idempotency_key: str | None = None,
        instrument: tuple[str, list[int], int, str] | None = None,
        status: str = "completed",
    ) -> int:
        """Store a completed check-in and its answers in one transaction; return its id.

        `answers` holds (prompt key, free text or None, numeric value or None). With an
        idempotency key, a second call with the same key returns the first check-in's id.
        `status` is completed, or stopped (the patient ended it early: what they answered is kept).
        """
        if status not in ("completed", "stopped"):
            raise StoreError(f"Unknown check-in status {status!r}.")
        answers = list(answers)
        for _key, text, _value in answers:
            check_text(text)
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if idempotency_key is not None:
                existing = s.execute(
                    select(CheckIn.id).where(CheckIn.idempotency_key == idempotency_key)
                ).scalar_one_or_none()
                if existing is not None:
                    return existing
            checkin = CheckIn(
                patient_id=p.id,
                prompt_set=prompt_set,
                idempotency_key=idempotency_key,
                status=status,
                started_at=started_at or now,
                completed_at=now,
                created_at=now,
            )
            s.add(checkin)
            s.flush()
            for key, text, value in answers:
                s.add(
                    JournalAnswer(
                        patient_id=p.id,
                        checkin_id=checkin.id,
                        prompt_key=key,
                        text_enc=self._encrypt(p, text),
                        numeric_value=value,
                        created_at=now,
                    )
                )
            if instrument is not None:
                name, items, total, band = instrument
                s.add(
                    InstrumentResult(
                        patient_id=p.id,
                        checkin_id=checkin.id,
                        instrument=name,
                        item_answers=json.dumps(list(items)),
                        total=total,
                        band=band,
                        created_at=now,
                    )
                )
            return checkin.id

    def instrument_results(self, ref: str, *, actor: str, origin: str) -> list[dict]:
        """Scored questionnaires, oldest first (audited read)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(InstrumentResult)
                .where(InstrumentResult.patient_id == p.id)
                .order_by(InstrumentResult.id)
            ).scalars()
            out = [
                {
                    "instrument": r.instrument,
                    "items": json.loads(r.item_answers),
                    "total": r.total,
                    "band": r.band,
                    "at": r.created_at,
                }
                for r in rows
            ]
            self._audit(s, actor, "read.instruments", patient_id=p.id, origin=origin)
            return out

    def list_answers(
        self, ref: str, *, actor: str, origin: str, last_checkins: int | None = None
    ) -> list[AnswerView]:
        """A patient's journal answers, oldest first (audited read): all of them, or only those
        of the `last_checkins` most recent check-ins (answers without a check-in count as one),
        so that showing five check-ins decrypts five check-ins, not the patient's whole history."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            query = (
                select(JournalAnswer, CheckIn.prompt_set)
                .outerjoin(CheckIn, CheckIn.id == JournalAnswer.checkin_id)
                .where(JournalAnswer.patient_id == p.id)
                .order_by(JournalAnswer.created_at, JournalAnswer.id)
            )
            if last_checkins is not None:
                groups = (
                    s.execute(
                        select(JournalAnswer.checkin_id)
                        .where(JournalAnswer.patient_id == p.id)
                        .group_by(JournalAnswer.checkin_id)
                        .order_by(
                            func.min(JournalAnswer.created_at).desc(), func.min(JournalAnswer.id).desc()
                        )
                        .limit(max(0, last_checkins))
                    )
                    .scalars()
                    .all()
                )
                ids = [g for g in groups if g is not None]
                query = query.where(
                    or_(JournalAnswer.checkin_id.in_(ids), JournalAnswer.checkin_id.is_(None))
                    if None in groups
                    else JournalAnswer.checkin_id.in_(ids)
                )
            rows = s.execute(query).all()
            self._audit(s, actor, "read.journal", patient_id=p.id, origin=origin, detail={"count": len(rows)})
            return [
                AnswerView(
                    id=a.id,
                    checkin_id=a.checkin_id,
                    prompt_set=prompt_set,
                    prompt_key=a.prompt_key,
                    text=self._decrypt(p, a.text_enc),
                    value=a.numeric_value,
                    created_at=a.created_at,
                )
                for a, prompt_set in rows
            ]
