"""Saving a completed check-in: to the database, or to the spool when it is unreachable."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.checkins.store import CheckinRepo
from bot.store.spool import Spool

logger = logging.getLogger(__name__)

Answer = tuple[str, str | None, float | None]

#: Errors that mean "the database is not reachable right now", as opposed to bad input.
UNAVAILABLE = (OperationalError, DBAPIError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class SaveResult:
    saved: bool  # False: kept in the spool, to be saved when the database is back
    checkin_id: int | None = None


Instrument = tuple[str, list[int], int, str]  # (phq9|gad7, item answers, total, band)


def save_checkin(
    checkins: CheckinRepo,
    spool: Spool,
    ref: str,
    prompt_set: str,
    answers: list[Answer],
    instrument: Instrument | None = None,
    status: str = "completed",
) -> SaveResult:
    """Save now, or spool for later; never drop the answers. Bad input still raises."""
    try:
        return SaveResult(
            True,
            checkins.record_checkin(ref, prompt_set, answers, instrument=instrument, status=status),
        )
    except UNAVAILABLE as exc:
        logger.error("database unavailable saving a check-in for %s (%s); spooled", ref, type(exc).__name__)
        spool.put(
            "checkin",
            {
                "ref": ref,
                "prompt_set": prompt_set,
                "answers": [list(a) for a in answers],
                "instrument": list(instrument) if instrument else None,
                "status": status,  # "stop for today" stays a stopped check-in when replayed
            },
        )
        return SaveResult(False)


def apply_spooled(checkins: CheckinRepo) -> callable:
    """The replay function for Spool.drain: idempotent on the record id."""

    def apply(record_id: str, kind: str, payload: dict) -> None:
        if kind != "checkin":
            raise ValueError(f"unknown spool record kind {kind!r}")
        answers = [tuple(a) for a in payload["answers"]]
        instrument = tuple(payload["instrument"]) if payload.get("instrument") else None
        checkins.record_checkin(
            payload["ref"],
            payload["prompt_set"],
            answers,
            idempotency_key=record_id,
            instrument=instrument,
            status=payload.get("status", "completed"),
        )

    return apply


def start_drainer(checkins: CheckinRepo, spool: Spool, interval: float = 10.0) -> threading.Event:
    """Replay the spool in the background until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                if spool.pending():
                    n = spool.drain(apply_spooled(checkins))
                    if n:
                        logger.info("saved %d spooled check-in(s) now that the database is back", n)
            except Exception as exc:  # keep trying; never let the drainer die
                logger.error("spool replay failed (%s)", type(exc).__name__)
            stop.wait(interval)

    threading.Thread(target=loop, name="spool-drainer", daemon=True).start()
    return stop
