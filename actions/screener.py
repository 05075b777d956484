"""The C-SSRS screener in chat: the Rasa side of bot/safety/screener.py.

The safety path starts it after the crisis reply (`after_risk`); for high and critical risk
"are you safe right now?" comes first and the screener follows the answer (`after_safe_check`).
Each question sets `pending_question` to "screener", so PendingQuestionPolicy routes the reply
to `action_screener_answer` (a risky reply still takes the safety path first, and is read as an
answer there). State lives in the `screener` slot; the record (answers encrypted) in the store.
A yes that raises the triage raises the flag through the ordinary record_risk, which re-alerts.
An interrupted check-in waits, its answers kept in their slots, and resumes at the end.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import call, current_patient, raised_text, record_risk, safety_vars
from bot import runtime
from bot.flags.store import SignalInput
from bot.patients.store import PatientRef
from bot.safety import screener as cssrs
from bot.safety.assessment import rank

logger = logging.getLogger(__name__)

SLOT = "screener"
PENDING = "pending_question"


def _state(tracker: Tracker) -> dict[str, Any] | None:
    state = tracker.get_slot(SLOT)
    return dict(state) if isinstance(state, dict) and state.get("run") else None


def _ask(
    dispatcher: CollectingDispatcher, state: dict[str, Any], *, hint: bool = False
) -> list[dict[str, Any]]:
    """Ask the next question (one per message, with the three buttons), or return [] if none."""
    question = cssrs.next_question(state["answers"])
    if question is None:
        return []
    wording = cssrs.wording()
    if not state["answers"] and not state.get("asked"):
        dispatcher.utter_message(text=wording.intro)
    if hint:
        dispatcher.utter_message(text=wording.hint)
    dispatcher.utter_message(text=wording.questions[question], buttons=cssrs.buttons())
    state = {**state, "asked": question, "waiting": False}
    return [SlotSet(SLOT, state), SlotSet(PENDING, "screener")]


async def after_risk(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    patient: PatientRef | None,
    risk: dict[str, Any],
    flag_id: int | None,
    *,
    safe_check_asked: bool,
) -> list[dict[str, Any]]:
    """After a crisis reply: start the screener if this signal calls for it, or, when the risky
    message was itself a screener answer, take it as the answer and carry on."""
    state = _state(tracker)
    if state is not None:
        text = (tracker.latest_message or {}).get("text")
        answer = cssrs.parse_answer(text) if state.get("asked") and not state.get("waiting") else None
        events: list[dict[str, Any]] = []
        if answer is not None and patient is not None:
            events, state = await _take_answer(dispatcher, tracker, patient, state, answer, quiet=True)
            if state is None:
                return events
        if safe_check_asked:
            return [*events, SlotSet(SLOT, {**state, "waiting": True}), SlotSet(PENDING, None)]
        return events + (_ask(dispatcher, state) if not state.get("waiting") else [])
    if patient is None or flag_id is None:
        return []
    try:
        recent = await call(
            runtime.store().screeners.recent_screener_level,
            patient.ref,
            cssrs.window_start(runtime.store().core.now()),
        )
        offer = cssrs.should_offer(
            severity=risk["severity"],
            categories=list(risk.get("categories") or []),
            handoff_active=bool(tracker.get_slot("handoff_active")),
            recent_level=recent,
        )
        if not offer:
            return []
        run = await call(
            runtime.store().screeners.start_screener, patient.ref, flag_id=flag_id, trigger=risk["severity"]
        )
    except Exception as exc:
        logger.error("could not start the screener for %s (%s)", tracker.sender_id, type(exc).__name__)
        return []
    state = {
        "run": run,
        "answers": {},
        "asked": None,
        "waiting": safe_check_asked,
        "hinted": False,
        # A check-in that the risk interrupted resumes when the screener ends.
        "resume": bool(tracker.active_loop.get("name")),
    }
    if safe_check_asked:
        return [SlotSet(SLOT, state)]
    return _ask(dispatcher, state)


def after_safe_check(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """After the answer to "are you safe right now?": the screener's next question, if one waits."""
    state = _state(tracker)
    if state is None or not state.get("waiting") or tracker.get_slot("handoff_active"):
        return []
    return _ask(dispatcher, state)


async def stop_for_handoff(tracker: Tracker) -> list[dict[str, Any]]:
    """A clinician took over: the clinician leads, so the screener stops here."""
    state = _state(tracker)
    if state is None:
        return []
    patient = await current_patient(tracker)
    if patient is not None:
        try:
            answers = state["answers"]
            await call(
                runtime.store().screeners.save_screener,
                patient.ref,
                state["run"],
                answers,
                status="handoff",
                result=cssrs.triage(answers),
            )
        except Exception as exc:
            logger.error("could not close the screener for %s (%s)", tracker.sender_id, type(exc).__name__)
    events: list[dict[str, Any]] = [SlotSet(SLOT, None)]
    if tracker.get_slot(PENDING) == "screener":
        events.append(SlotSet(PENDING, None))
    return events


async def _take_answer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    patient: PatientRef,
    state: dict[str, Any],
    answer: str,
    *,
    quiet: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Record one answer; raise the flag when the triage rises. Returns the events and the new
    state (None when the screener is over)."""
    question = state["asked"]
    answers = {**state["answers"], question: answer}
    result = cssrs.triage(answers)
    status = cssrs.status(answers)
    store = runtime.store()
    events: list[dict[str, Any]] = []
    try:
        await call(
            store.screeners.save_screener, patient.ref, state["run"], answers, status=status, result=result
        )
    except Exception as exc:
        logger.error("could not save a screener answer for %s (%s)", tracker.sender_id, type(exc).__name__)
    current = await call(store.flags.open_flag_severity, patient.ref) or "none"
    if rank(result) > rank(current):
        try:
            _flag, alerted = await call(
                record_risk,
                patient,
                (tracker.latest_message or {}).get("message_id"),
                None,
                SignalInput(
                    severity=result,
                    categories=["suicide"],
                    rules=[{"rule": f"cssrs.{question}", "answer": answer, "severity": result}],
                    source="screener",
                ),
            )
            events.append(SlotSet("risk_level", result))
            if rank(result) >= rank("high") and not quiet:
                dispatcher.utter_message(text=raised_text(patient, alerted=alerted))
        except Exception as exc:
            logger.error("could not raise the flag for %s (%s)", tracker.sender_id, type(exc).__name__)
            dispatcher.utter_message(response="utter_safety_not_recorded", **safety_vars(patient))
    state = {**state, "answers": answers, "hinted": False}
    if status == "in_progress":
        return events, state
    wording = cssrs.wording()
    dispatcher.utter_message(text=wording.declined if status == "declined" else wording.thanks)
    events += [SlotSet(SLOT, None), SlotSet(PENDING, None)]
    if state.get("resume"):
        events.append(FollowupAction("action_start_checkin"))
    return events, None


class ActionScreenerAnswer(Action):
    """A reply while a screener question is open (routed here by PendingQuestionPolicy)."""

    def name(self) -> str:
        return "action_screener_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        state = _state(tracker)
        if state is None or not state.get("asked"):
            return [SlotSet(PENDING, None)]
        patient = await current_patient(tracker)
        if patient is None:
            return [SlotSet(SLOT, None), SlotSet(PENDING, None)]
        answer = cssrs.parse_answer((tracker.latest_message or {}).get("text"))
        if answer is None:
            if not state.get("hinted"):
                # Once: say how to answer, and ask the same question again.
                return _ask(dispatcher, {**state, "hinted": True}, hint=True)
            # A second reply that is no answer: we stop without pressing; it counts as declined.
            answer = cssrs.DECLINED
        events, new_state = await _take_answer(dispatcher, tracker, patient, state, answer)
        if new_state is None:
            return events
        return events + _ask(dispatcher, new_state)
