"""Screener runs' storage: the C-SSRS screener a flag starts, its answers (encrypted) and result."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.models import (
    Patient,
    RiskFlag,
    ScreenerRun,
)

_ORDER = ("none", "low", "moderate", "high", "critical")


def screener_rows(
    s: Session, flag_id: int, p: Patient, decrypt: Callable[[Patient, bytes | None], str | None]
) -> list[dict[str, Any]]:
    """Inside the caller's transaction: each run with its questions' wording and answers."""
    from bot.safety.screener import summary

    out = []
    for run in s.execute(
        select(ScreenerRun).where(ScreenerRun.flag_id == flag_id).order_by(ScreenerRun.id)
    ).scalars():
        text = decrypt(p, run.answers_enc)
        answers = json.loads(text) if text else {}
        out.append(
            {
                "id": run.id,
                "status": run.status,
                "trigger": run.trigger_severity,
                "result": run.result_severity,
                "answers": answers,
                "items": summary(answers),
                "started_at": run.started_at,
                "updated_at": run.updated_at,
            }
        )
    return out


class ScreenerRepo(Repo):
    """Screener runs, by flag."""

    def start_screener(self, ref: str, *, flag_id: int, trigger: str) -> int:
        """A new run on the patient's flag; returns its id."""
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            flag = s.get(RiskFlag, flag_id)
            if flag is None or flag.patient_id != p.id:
                raise ValueError("That flag is not this patient's.")
            run = ScreenerRun(
                flag_id=flag_id,
                patient_id=p.id,
                status="in_progress",
                trigger_severity=trigger,
                result_severity="none",
                answers_enc=self._encrypt(p, json.dumps({})),
                started_at=now,
                updated_at=now,
            )
            s.add(run)
            s.flush()
            self._audit(s, "system:safety", "screener.start", patient_id=p.id, detail={"flag_id": flag_id})
            return run.id

    def save_screener(
        self, ref: str, run_id: int, answers: dict[str, str], *, status: str, result: str
    ) -> None:
        """The answers so far (or "declined"), the run's status and its triage."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            run = s.get(ScreenerRun, run_id)
            if run is None or run.patient_id != p.id:
                raise ValueError("That screener is not this patient's.")
            run.answers_enc = self._encrypt(p, json.dumps(answers))
            run.status = status
            run.result_severity = result
            run.updated_at = self._clock()
            if status != "in_progress":
                self._audit(
                    s,
                    "system:safety",
                    "screener.finish",
                    patient_id=p.id,
                    detail={"flag_id": run.flag_id, "status": status, "result": result},
                )

    def recent_screener_level(self, ref: str, since: datetime) -> str | None:
        """The highest level a screener was asked for or reached since `since` (None if none
        was asked): a new signal must be higher to ask again."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(ScreenerRun.trigger_severity, ScreenerRun.result_severity).where(
                    ScreenerRun.patient_id == p.id, ScreenerRun.started_at >= since
                )
            ).all()
        levels = [level for row in rows for level in row if level in _ORDER]
        return max(levels, key=_ORDER.index) if levels else None

    def screeners_for_flag(self, flag_id: int) -> list[dict[str, Any]]:
        """The flag's runs, decrypted, oldest first. The caller has checked the reader may see
        the flag (portal, session prep) and audits that read."""
        with transaction(self._factory) as s:
            flag = s.get(RiskFlag, flag_id)
            if flag is None:
                return []
            return self._screener_rows(s, flag_id, s.get(Patient, flag.patient_id))

    def _screener_rows(self, s: Session, flag_id: int, p: Patient) -> list[dict[str, Any]]:
        return screener_rows(s, flag_id, p, self._decrypt)
