"""Safety actions: the crisis reply and the "are you safe right now?" follow-up.

The flag is written before any message is queued; Rasa sends the queued messages only after
the action returns, so the patient never sees a reply for a risk that was not recorded. If the
write fails the patient still gets the resources at once, and is told honestly that the care
team could not be reached through Interlude.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import screener
from actions.checkin_state import LOOP_SLOTS, checkin_state, save_answers
from actions.common import (
    alert_state,
    call,
    crisis_text,
    current_patient,
    flag_alerted,
    followup_text,
    record_risk,
    remembered,
    safety_vars,
)
from bot import runtime
from bot.flags.store import FlagResult, SignalInput
from bot.patients.store import PatientRef
from bot.safety.context import in_context
from bot.safety.safe_check import NO, YES, parse_safe_answer
from bot.safety.service import default_detector
from bot.store.errors import MAX_TEXT_CHARS
from bot.understanding import intent_for

logger = logging.getLogger(__name__)

HOLDING_SEVERITIES = ("high", "critical")


def _semantic_entry(semantic: dict[str, Any]) -> dict[str, Any]:
    """The semantic layer's view, stored beside the rules: its severity and scores, and the
    closest labelled examples by id (their words are shown from the example files)."""
    severity = semantic.get("severity", "none")
    scores = semantic.get("severity_scores") or {}
    return {
        "rule": "semantic",
        "category": ",".join(semantic.get("categories") or []),
        "kind": "semantic",
        "severity": severity,
        "score": scores.get(severity if severity != "none" else "low"),
        "scores": scores,
        "close_to": [
            {k: c.get(k) for k in ("id", "severity", "categories", "similarity")}
            for c in semantic.get("close_to") or []
        ],
    }


def _signal_from(risk: dict[str, Any], source: str = "message") -> SignalInput:
    rules = [
        {k: r.get(k) for k in ("rule", "category", "kind", "severity", "base_severity", "start", "end")}
        for r in risk.get("rules") or []
    ]
    if isinstance(risk.get("semantic"), dict):
        rules.append(_semantic_entry(risk["semantic"]))
    return SignalInput(
        severity=risk["severity"],
        categories=list(risk.get("categories") or []),
        rules=rules,
        lowering=list(risk.get("lowering") or []),
        source=source,
        context_message_id=(risk.get("context") or {}).get("message_id"),
    )


async def safety_path(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    patient: PatientRef | None,
    *,
    text: str | None,
    risk: dict[str, Any],
    source: str = "message",
) -> list[dict[str, Any]]:
    """The one safety path: flag first, then crisis resources for the patient's locale, then
    "are you safe right now?" for high and critical, holding ordinary prompts meanwhile.
    Used for risky messages and for risky answers (PHQ-9 item 9)."""
    severity = risk["severity"]
    recorded = alerted = False
    flag: FlagResult | None = None
    if patient is not None:
        try:
            message_id = (tracker.latest_message or {}).get("message_id")
            flag, alerted = await call(record_risk, patient, message_id, text, _signal_from(risk, source))
            recorded = True
            if message_id and source == "message":  # written: nothing left for the reconciler
                await call(runtime.pending_flags().forget, tracker.sender_id, message_id)
        except Exception as exc:
            logger.error(
                "could not record a %s risk flag for %s (%s)", severity, tracker.sender_id, type(exc).__name__
            )
    variables = safety_vars(patient)
    dispatcher.utter_message(text=crisis_text(patient, risk, alerted=alerted, recorded=recorded))
    if not recorded:
        dispatcher.utter_message(response="utter_safety_not_recorded", **variables)
    events: list[dict[str, Any]] = [SlotSet("risk_level", severity)]
    if source == "message" and recorded and patient is not None and text:
        events += await _keep_their_words(dispatcher, tracker, patient, text)
    if tracker.active_loop.get("name"):
        # Ordinary prompts wait; answers given so far stay in their slots for later.
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    safe_check = severity in HOLDING_SEVERITIES
    if safe_check:
        dispatcher.utter_message(response="utter_ask_safe_now")
        events.append(SlotSet("safety_check_pending", True))
    flag_id = flag.flag_id if flag else None
    return events + await screener.after_risk(
        dispatcher, tracker, patient, risk, flag_id, safe_check_asked=safe_check
    )


async def _keep_their_words(
    dispatcher: CollectingDispatcher, tracker: Tracker, patient: PatientRef, text: str
) -> list[dict[str, Any]]:
    """A journal entry, or a paragraph written with nothing open, that also carried risk is still
    the patient's writing: once its flag is written (the caller checks) and the resources are
    queued, it is kept as a journal entry for the therapist, as it would have been without the
    risk (a paused check-in keeps its answers apart). Never during a handoff, before consent,
    while a check-in question is open (the answer waits in its slots) or another question is
    pending, or for a request ("delete everything ..."). Nothing here may stop the safety reply:
    any failure keeps nothing and says nothing."""
    try:
        if tracker.get_slot("handoff_active") or len(text) > MAX_TEXT_CHARS:
            return []
        prompt_set, _index, _answers = checkin_state(tracker)
        journaling = (
            prompt_set is not None and prompt_set.id == "journal" and bool(tracker.active_loop.get("name"))
        )
        quiet = not tracker.active_loop.get("name") and not any(
            tracker.get_slot(slot) for slot in ("pending_question", "safety_check_pending", "screener")
        )
        if not (journaling or (quiet and intent_for(text)[0] == "long_entry")):
            return []
        if not await remembered(runtime.store().patients.has_consented, patient.ref):
            return []
        result = await save_answers(patient, "journal", [{"key": "entry", "text": text, "value": None}])
        if not result.saved:  # held in the outage spool, saved later: no second message now
            return []
    except Exception as exc:
        logger.error("could not keep a flagged entry for %s (%s)", tracker.sender_id, type(exc).__name__)
        return []
    dispatcher.utter_message(response="utter_kept_as_journal_too")
    # The journal prompt this answered is done.
    return [SlotSet(slot, None) for slot in LOOP_SLOTS] if journaling else []


class ActionSafetyResponse(Action):
    """Record the flag, then reply with crisis resources for the patient's locale."""

    def name(self) -> str:
        return "action_safety_response"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        risk = message.get("risk")
        if not isinstance(risk, dict) or risk.get("severity") in (None, "none"):
            risk = default_detector().assess(text).to_dict(include_spans=False)
        # Risk across turns: a method or plan after recent ideation escalates (bot/safety/context.py).
        answering = tracker.get_slot("pending_question") == "screener"
        risk = in_context(tracker.events, risk, answering_screener=answering)
        if risk.get("severity") in (None, "none"):
            # The policy saw risk here; never answer a triggered safety path with "none".
            risk = {**risk, "severity": "high", "rules": [{"rule": "policy.triggered"}]}
        patient = await current_patient(tracker)
        return await safety_path(dispatcher, tracker, patient, text=text, risk=risk)


class ActionSafetyFollowup(Action):
    """Handle the answer to "are you safe right now?". SafetyPolicy sends only answers here
    (bot/safety/safe_check.py); a yes is a yes, and a no or an unsure answer is not confirmed
    safe, which makes the flag critical."""

    def name(self) -> str:
        return "action_safety_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        answer = parse_safe_answer(message.get("text"))
        if answer is None:  # not routed by the policy: fall back on the classifier, yes or not
            answer = YES if intent == "affirm" else NO
        patient = await current_patient(tracker)
        events: list[dict[str, Any]] = [SlotSet("safety_check_pending", False)]
        if answer == YES:
            alerted = await alert_state(flag_alerted, patient)
            dispatcher.utter_message(text=followup_text(patient, "safe_yes", alerted=alerted))
            return events + screener.after_safe_check(dispatcher, tracker)
        alerted = recorded = False
        if patient is not None:
            try:
                _flag, alerted = await call(
                    record_risk,
                    patient,
                    message.get("message_id"),
                    message.get("text"),
                    SignalInput(
                        severity="critical",
                        categories=[],
                        rules=[
                            {"rule": "safety_check.not_confirmed_safe", "answer": answer, "intent": intent}
                        ],
                        source="safety_check",
                    ),
                )
                recorded = True
            except Exception as exc:
                logger.error("could not escalate the flag for %s (%s)", tracker.sender_id, type(exc).__name__)
        dispatcher.utter_message(text=followup_text(patient, "safe_no", alerted=alerted, recorded=recorded))
        if not recorded:
            dispatcher.utter_message(response="utter_safety_not_recorded", **safety_vars(patient))
        events.append(SlotSet("risk_level", "critical"))
        return events + screener.after_safe_check(dispatcher, tracker)
