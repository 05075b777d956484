"""Helpers shared by the action modules: the store, the patient, and safety wording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import runtime
from bot.checkins.saving import UNAVAILABLE
from bot.flags.store import FlagResult, SignalInput
from bot.lastknown import LastKnown
from bot.patients.store import PatientRef
from bot.safety.assessment import at_least
from bot.safety.replies import crisis_reply, followup_reply, screener_raised_reply
from bot.safety.resources import coverage_text, resources_for

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


async def alert_state(fn: Callable[[PatientRef | None], bool], patient: PatientRef | None) -> bool:
    """`clinic_alerts` or `flag_alerted`, remembered; False when the database cannot tell, so
    that no reply claims an alert nobody can confirm."""
    try:
        return await remembered(fn, patient)
    except UNAVAILABLE:
        return False


def remember_after_write(patient: PatientRef, *, onboarded: bool = False, consented: bool = False) -> None:
    """What this process just wrote, so that the last answers it serves in an outage are not
    older than its own writes (the welcome is not said twice, consent not asked again)."""
    if onboarded:
        _last_known.put(
            runtime.store().patients.find_patient, patient.ref, value=replace(patient, onboarded=True)
        )
    if consented:
        _last_known.put(runtime.store().patients.has_consented, patient.ref, value=True)


async def current_patient(tracker: Tracker) -> PatientRef | None:
    """The enrolled patient this conversation belongs to (Rasa's sender id is the patient ref)."""
    return await remembered(runtime.store().patients.find_patient, tracker.sender_id)


def clinic_alerts(patient: PatientRef | None) -> bool:
    """Whether the patient's clinic has an alert channel configured in alerts.yml (blocking:
    run it through `call`). Without one nobody is alerted, and no reply may say so."""
    if patient is None:
        return False
    slug = runtime.store().staff.clinic_slug(patient.clinic_id)
    return bool(runtime.alert_config().for_clinic(slug).channels())


def flag_alerted(patient: PatientRef | None) -> bool:
    """Whether the patient's open flag was alerted on a configured channel: the clinic has one
    and the flag is at least moderate (a low flag is only noted for the portal), as
    record_risk decides when it queues the alerts (blocking)."""
    if patient is None or not clinic_alerts(patient):
        return False
    return at_least(runtime.store().flags.open_flag_severity(patient.ref) or "none", "moderate")


def safety_vars(patient: PatientRef | None, *, alerts: bool = False) -> dict[str, str]:
    """Template variables for crisis wording: resources for the patient's locale, and the
    coverage sentence for whether the clinic has an alert channel (`alerts`, from clinic_alerts)."""
    settings = runtime.settings()
    locale = patient.locale if patient else settings.default_locale
    res = resources_for(locale)
    return {
        "resources": res.as_text(settings.clinic_urgent_line),
        "emergency": res.emergency,
        "coverage": coverage_text(alerts=alerts, on_call_cover=settings.on_call_cover),
    }


def _wording(patient: PatientRef | None) -> dict[str, Any]:
    """What every safety reply is worded from: the patient's crisis numbers, the clinic's cover."""
    settings = runtime.settings()
    locale = patient.locale if patient else settings.default_locale
    return {
        "resources": resources_for(locale),
        "on_call": settings.on_call_cover,
        "clinic_line": settings.clinic_urgent_line,
    }


def followup_text(patient: PatientRef | None, kind: str, *, alerted: bool, recorded: bool = True) -> str:
    """After "are you safe right now?" or a held check-in, true to whether an alert went out
    (bot/safety/replies.py, clinic/safety/replies.yml: followups)."""
    return followup_reply(kind, alerted=alerted, recorded=recorded, **_wording(patient))


def crisis_text(
    patient: PatientRef | None, risk: dict[str, Any], *, alerted: bool, recorded: bool = True
) -> str:
    """The crisis reply for this risk, in the patient's locale, true to whether an alert went
    out to a configured channel (bot/safety/replies.py, clinic/safety/replies.yml)."""
    return crisis_reply(risk, alerted=alerted, recorded=recorded, **_wording(patient))


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


def record_risk(
    patient: PatientRef, message_id: str | None, text: str | None, signal: SignalInput
) -> tuple[FlagResult, bool]:
    """Write the flag and queue alerts on the clinic's configured channels, with its deadlines.
    Returns the flag and whether the flag's alerts go to a configured channel (so the patient
    may be told "alerted"); a low flag is only noted for the portal."""
    store = runtime.store()
    clinic = runtime.alert_config().for_clinic(store.staff.clinic_slug(patient.clinic_id))
    channels = clinic.channels() if at_least(signal.severity, "moderate") else []
    result = store.flags.record_risk(
        patient.ref,
        message_id=message_id,
        text=text,
        signal=signal,
        alert_channels=channels or ["portal"],
        deadlines=clinic.deadlines,
    )
    return result, bool(clinic.channels()) and at_least(result.severity, "moderate")
