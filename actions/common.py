"""Helpers shared by the action modules: the store, the patient, and safety wording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import runtime
from bot.lastknown import LastKnown
from bot.safety.replies import crisis_reply, screener_raised_reply
from bot.safety.resources import coverage_text, resources_for
from bot.store.api import PatientRef

T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call off the action server's event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


#: Who a patient is, whether they consented, whether a flag holds check-ins: the last answer
#: read, so that a conversation goes on while the database is unreachable (bot/lastknown.py).
_last_known = LastKnown()


async def remembered(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` off the event loop; its last answer while the database is unreachable."""
    return await call(_last_known.get, fn, *args)


def remember_after_write(patient: PatientRef, *, onboarded: bool = False, consented: bool = False) -> None:
    """What this process just wrote, so that the last answers it serves in an outage are not
    older than its own writes (the welcome is not said twice, consent not asked again)."""
    if onboarded:
        _last_known.put(runtime.store().find_patient, patient.ref, value=replace(patient, onboarded=True))
    if consented:
        _last_known.put(runtime.store().has_consented, patient.ref, value=True)


async def current_patient(tracker: Tracker) -> PatientRef | None:
    """The enrolled patient this conversation belongs to (Rasa's sender id is the patient ref)."""
    return await remembered(runtime.store().find_patient, tracker.sender_id)


def safety_vars(patient: PatientRef | None) -> dict[str, str]:
    """Template variables for crisis wording: resources for the patient's locale, coverage."""
    settings = runtime.settings()
    locale = patient.locale if patient else settings.default_locale
    res = resources_for(locale)
    return {
        "resources": res.as_text(settings.clinic_urgent_line),
        "emergency": res.emergency,
        "coverage": coverage_text(settings.on_call_cover),
    }


def crisis_text(
    patient: PatientRef | None, risk: dict[str, Any], *, alerted: bool, recorded: bool = True
) -> str:
    """The crisis reply for this risk, in the patient's locale, true to whether an alert went
    out to a configured channel (bot/safety/replies.py, clinic/safety/replies.yml)."""
    settings = runtime.settings()
    locale = patient.locale if patient else settings.default_locale
    return crisis_reply(
        risk,
        resources_for(locale),
        alerted=alerted,
        on_call=settings.on_call_cover,
        clinic_line=settings.clinic_urgent_line,
        recorded=recorded,
    )


def raised_text(patient: PatientRef | None, *, alerted: bool) -> str:
    """What the patient reads when a screener answer raised the flag to high or critical."""
    settings = runtime.settings()
    locale = patient.locale if patient else settings.default_locale
    return screener_raised_reply(
        resources_for(locale),
        alerted=alerted,
        on_call=settings.on_call_cover,
        clinic_line=settings.clinic_urgent_line,
    )


def not_enrolled(dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    dispatcher.utter_message(response="utter_not_enrolled")
    return []
