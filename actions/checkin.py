"""Check-ins: one generic, data-driven loop over the prompt sets in clinic/prompts/.

`prompt_set_form` has a single requested slot, `prompt_answer`. Its validation parses the answer
for the current prompt (bot.prompts), records it and moves on; `action_ask_prompt_answer` asks
the next prompt with the wording and buttons from the YAML, so editing or adding prompts needs
no retraining. `action_submit_prompt_set` runs whenever the form ends: it saves a finished set
(scoring PHQ-9/GAD-7), confirms a stop, and sends a risky answer (PHQ-9 item 9) down the same
safety path as a risky message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.checkin_state import LOOP_SLOTS, checkin_state, keep_writing, save_answers, save_stopped
from actions.common import (
    alert_state,
    call,
    clinic_alerts,
    current_patient,
    flag_alerted,
    followup_text,
    not_enrolled,
    remembered,
    safety_vars,
)
from actions.conversation import ask_data_confirmation, record_contact_request
from actions.onboarding import ask_consent
from actions.reminders import apply_reminder_command
from actions.safety import safety_path
from bot import runtime
from bot.prompts.answers import behaviour_in_prompt, parse_answer, parse_correction
from bot.prompts.instruments import phq9_item9_severity, score
from bot.prompts.sets import Prompt, PromptSet, default_catalogue
from bot.schedule.controls import parse_reminder_command
from bot.store.errors import MAX_TEXT_CHARS
from bot.understanding import note_content

logger = logging.getLogger(__name__)

INTENT_SETS = {
    "start_checkin": "daily",
    "start_questionnaire": "phq9",
    "free_journal": "journal",
    "message_therapist": "therapist_note",
}
#: Said mid check-in, these end the questions (answers kept) with this loop_exit.
EXITS = {
    "pause": "pause",
    "reminder": "pause",
    "bye": "pause",
    "no": "pause",
    "stop_today": "stop",
    "journal": "switch:journal",
    "note_therapist": "switch:therapist_note",
    "questionnaire": "switch:phq9",
    "data_delete": "data_delete",
    "data_export": "data_export",
}
#: Said mid check-in, these get their answer and the prompt is asked again.
ASIDES = {
    "privacy": "utter_privacy",
    "help": "utter_help_in_checkin",
    "medical_question": "utter_out_of_scope_medical",
    "greet": "utter_greet_in_checkin",
    "thanks": "utter_youre_welcome",
    "emoji_only": "utter_emoji_in_checkin",
    "resume": "utter_keep_going",
    "start_checkin": "utter_keep_going",
    "yes": "utter_keep_going",
}
#: Writing is never held: these sets stay open while a high or critical flag holds the prompts.
NEVER_HELD = frozenset({"journal", "therapist_note"})


def _named_answer(prompt_set: PromptSet, answers: list[dict], text: str) -> tuple[int, Prompt] | None:
    """The earlier scale or number answer a correction names by its subject ("the anxiety one"),
    when it is not the last answer (the last one is corrected by default)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    for position, answer in enumerate(answers[:-1]):
        prompt = next((p for p in prompt_set.prompts if p.key == answer["key"]), None)
        if prompt is None or prompt.type not in ("scale", "number"):
            continue
        if any(len(w) >= 4 and w in words for w in prompt.key.split("_")):
            return position, prompt
    return None


def _skips_today(text: str) -> bool:
    command = parse_reminder_command(text)
    return command is not None and command.kind == "skip_today"


def _in_follow_up(tracker: Tracker) -> bool:
    """The position is kept in prompt_index; a half step (1.5) means prompt 1's follow-up is due."""
    return float(tracker.get_slot("prompt_index") or 0) % 1 >= 0.5


def current_prompt(tracker: Tracker) -> Prompt | None:
    """The prompt being asked: a pending follow-up, else the set's prompt at the index."""
    prompt_set, index, _ = checkin_state(tracker)
    if prompt_set is None:
        return None
    prompt = prompt_set.prompt(index)
    if prompt is not None and _in_follow_up(tracker) and prompt.follow_up is not None:
        return prompt.follow_up
    return prompt


def _buttons(prompt: Prompt) -> list[dict[str, str]]:
    if prompt.type == "scale" and prompt.max - prompt.min <= 10:
        return [{"title": str(v), "payload": str(v)} for v in range(prompt.min, prompt.max + 1)]
    if prompt.type == "choice":
        return [{"title": o.label, "payload": str(o.value)} for o in prompt.options]
    if prompt.type == "yes_no":
        return [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]
    return []


class ActionStartCheckin(Action):
    """Start (or resume) a prompt set, unless a high or critical flag is open."""

    def name(self) -> str:
        return "action_start_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            not_enrolled(dispatcher)
            return [SlotSet("checkin_allowed", False)]
        if not await remembered(runtime.store().patients.has_consented, patient.ref):
            # Nothing is stored before consent: ask for it again instead.
            dispatcher.utter_message(response="utter_consent_needed")
            return [SlotSet("checkin_allowed", False), *await ask_consent(dispatcher, patient)]
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        text = (tracker.latest_message or {}).get("text") or ""
        if intent == "message_therapist" and note_content(text):
            await pass_note(dispatcher, tracker, text)  # "tell my therapist that ...": kept as said
            return [SlotSet("checkin_allowed", False)]
        wanted = INTENT_SETS.get(intent or "", "daily")
        if intent == "EXTERNAL_checkin_due":
            # Sent by the scheduler through Rasa's API, with the set that is due.
            entities = (tracker.latest_message or {}).get("entities") or []
            wanted = next((str(e["value"]) for e in entities if e.get("entity") == "prompt_set"), "daily")
            if wanted not in default_catalogue().sets:
                logger.error("a due check-in named an unknown prompt set %r", wanted)
                return [SlotSet("checkin_allowed", False)]
        open_severity = await remembered(runtime.store().flags.open_flag_severity, patient.ref)
        if open_severity in ("high", "critical") and wanted not in NEVER_HELD:
            alerted = await alert_state(flag_alerted, patient)
            dispatcher.utter_message(text=followup_text(patient, "checkin_held", alerted=alerted))
            return [SlotSet("checkin_allowed", False)]
        current, _index, answers = checkin_state(tracker)
        if current is not None and answers and (intent not in INTENT_SETS or current.id == wanted):
            dispatcher.utter_message(response="utter_checkin_resume")
            return [SlotSet("checkin_allowed", True), SlotSet("loop_exit", None)]
        prompt_set = default_catalogue().get(wanted)
        if prompt_set.intro:
            dispatcher.utter_message(text=prompt_set.intro)
        return [SlotSet("checkin_allowed", True), *_fresh_loop(prompt_set.id)]


class ActionAskPromptAnswer(Action):
    """Asks the current prompt, in the set's own words."""

    def name(self) -> str:
        return "action_ask_prompt_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        prompt = current_prompt(tracker)
        if prompt is None:
            return []
        dispatcher.utter_message(text=prompt.text, buttons=_buttons(prompt))
        return []


class ValidatePromptSetForm(FormValidationAction):
    def name(self) -> str:
        return "validate_prompt_set_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[str]:
        prompt_set, index, _ = checkin_state(tracker)
        if prompt_set is None or index >= len(prompt_set.prompts) or tracker.get_slot("answer_risk"):
            return []  # done: the form ends and action_submit_prompt_set runs
        return domain_slots

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        prompt = current_prompt(tracker)
        if not tracker.get_slot("requested_slot") or prompt is None:
            return await super().run(dispatcher, tracker, domain)
        intent = message.get("intent") or {}
        behaviour = behaviour_in_prompt(
            prompt, text, str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)
        )
        if behaviour == "answer" or (
            behaviour == "note_therapist" and tracker.get_slot("prompt_set") == "therapist_note"
        ):
            return await super().run(dispatcher, tracker, domain)  # in the note, "tell her ..." is the note
        return await self._command(behaviour, text, prompt, dispatcher, tracker)

    async def _command(
        self, behaviour: str, text: str, prompt: Prompt, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]:
        """Something other than an answer, said mid check-in: never stored as the answer."""
        keep = [SlotSet("prompt_answer", None)]  # the prompt is asked again
        current_set = tracker.get_slot("prompt_set")
        if behaviour == "note_therapist" and note_content(text):
            await pass_note(dispatcher, tracker, text)  # the note came with the request
            return keep
        if EXITS.get(behaviour, "").removeprefix("switch:") == current_set:
            dispatcher.utter_message(response="utter_keep_going")
            return keep
        if behaviour == "reminder" and _skips_today(text):
            # "no more check-ins today" mid check-in: done for today, what was answered is saved.
            return [*keep, SlotSet("loop_exit", "stop"), SlotSet("requested_slot", None)]
        if behaviour in EXITS:
            # End the questions (answers kept in the slots); action_submit_prompt_set does the rest.
            return [*keep, SlotSet("loop_exit", EXITS[behaviour]), SlotSet("requested_slot", None)]
        if behaviour == "skip":
            if not prompt.skippable:
                dispatcher.utter_message(response="utter_answer_needed")
                return keep
            _set, index, answers = checkin_state(tracker)
            answers.append({"key": prompt.key, "value": None, "text": None, "skipped": True})
            events = [SlotSet(k, v) for k, v in self.__class__._advance(answers, index).items()]
            prompt_set = default_catalogue().get(tracker.get_slot("prompt_set"))
            if index + 1 >= len(prompt_set.prompts):
                events.append(SlotSet("requested_slot", None))  # that was the last question: save
            return events
        if behaviour == "correct":
            return self._correct(text, dispatcher, tracker)
        if behaviour == "review":
            await show_entries(dispatcher, tracker)
            return keep
        if behaviour == "human":
            patient = await current_patient(tracker)
            if patient is not None:
                await record_contact_request(
                    dispatcher, patient, tracker.get_latest_input_channel() or "chat"
                )
            return keep
        if behaviour == "bot_question":
            patient = await current_patient(tracker)
            dispatcher.utter_message(
                response="utter_bot_answer",
                **safety_vars(patient, alerts=await alert_state(clinic_alerts, patient)),
            )
            return keep
        reply = ASIDES.get(behaviour)
        if reply:
            dispatcher.utter_message(response=reply)
        return keep

    def _correct(self, text: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        """ "go back" asks the last question again; "I meant 6 not 4" replaces the last answer."""
        prompt_set, index, answers = checkin_state(tracker)
        if not answers or prompt_set is None:
            dispatcher.utter_message(response="utter_nothing_to_correct")
            return [SlotSet("prompt_answer", None)]
        named = _named_answer(prompt_set, answers, text)
        if named is not None:
            # "i put the wrong anxiety number, it should be 2": the answer they name, not the last.
            position, named_prompt = named
            value = parse_correction(named_prompt, text)
            if value is not None:
                answers[position] = {**answers[position], "value": value, "text": None, "skipped": False}
                dispatcher.utter_message(
                    response="utter_named_answer_corrected",
                    name=named_prompt.key.replace("_", " "),
                    value=f"{value:g}",
                )
                return [SlotSet("prompt_answer", None), SlotSet("prompt_answers", answers)]
        last = answers[-1]
        last_prompt = next((p for p in prompt_set.prompts if p.key == last["key"]), None)
        if last_prompt is None and prompt_set.prompt(index - 1) is not None:
            follow = prompt_set.prompt(index - 1).follow_up
            last_prompt = follow if follow is not None and follow.key == last["key"] else None
        value = parse_correction(last_prompt, text) if last_prompt is not None else None
        if value is not None:
            answers[-1] = {**last, "value": value, "text": None, "skipped": False}
            shown = f"{value:g}"
            if last_prompt.type == "choice":
                shown = next((o.label for o in last_prompt.options if o.value == value), shown)
            dispatcher.utter_message(response="utter_answer_corrected", value=shown)
            events = [SlotSet("prompt_answer", None), SlotSet("prompt_answers", answers)]
            if last_prompt.risk == "phq9_item9" and phq9_item9_severity(int(value)):
                events.append(SlotSet("answer_risk", phq9_item9_severity(int(value))))
            return events
        dispatcher.utter_message(response="utter_going_back")
        return [
            SlotSet("prompt_answer", None),
            SlotSet("prompt_answers", answers[:-1]),
            SlotSet("prompt_index", index if _in_follow_up(tracker) else max(0, index - 1)),
            SlotSet("prompt_retries", 0),
        ]

    def validate_prompt_answer(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        _set, index, answers = checkin_state(tracker)
        prompt = current_prompt(tracker)
        if prompt is None:
            return {"prompt_answer": None}
        is_follow_up = _in_follow_up(tracker)
        raw = str(slot_value or "")
        parsed = parse_answer(prompt, raw, max_chars=MAX_TEXT_CHARS)
        retries = int(tracker.get_slot("prompt_retries") or 0)
        if not parsed.ok:
            if parsed.error == "empty":
                return {"prompt_answer": None}  # not an attempt at an answer: just ask again
            if parsed.error == "too_long":
                dispatcher.utter_message(response="utter_text_too_long", limit=f"{MAX_TEXT_CHARS:,}")
                return {"prompt_answer": None}
            if parsed.error == "unparseable" and retries >= 1 and prompt.skippable and raw.strip():
                # Asked twice already: keep what they wrote, as words, and move on (nothing is lost).
                dispatcher.utter_message(response="utter_answer_kept_as_text")
                answers.append({"key": prompt.key, "value": None, "text": raw.strip()[:MAX_TEXT_CHARS]})
                return self._advance(answers, index)
            if parsed.error == "not_skippable":
                dispatcher.utter_message(response="utter_answer_needed")
            else:
                dispatcher.utter_message(text=prompt.hint or "Sorry, I didn't understand that answer.")
            return {"prompt_answer": None, "prompt_retries": retries + 1}
        answers.append(
            {"key": prompt.key, "value": parsed.value, "text": parsed.text, "skipped": parsed.skipped}
        )
        events = self._advance(answers, index)
        if not is_follow_up and prompt.wants_follow_up(parsed.value, parsed.text):
            events["prompt_index"] = index + 0.5  # the follow-up comes before the next prompt
        if prompt.risk == "phq9_item9" and parsed.value is not None:
            severity = phq9_item9_severity(int(parsed.value))
            if severity:
                events["answer_risk"] = severity  # ends the set; the submit action takes the safety path
        return events

    @staticmethod
    def _advance(answers: list[dict], index: int) -> dict[str, Any]:
        return {
            "prompt_answer": None,
            "prompt_answers": answers,
            "prompt_index": index + 1,
            "prompt_retries": 0,
        }


def _summary(prompt_set: PromptSet, answers: list[dict]) -> str:
    parts = []
    for a in answers:
        prompt = next((p for p in prompt_set.prompts if p.key == a["key"]), None)
        if prompt is not None and prompt.type == "scale" and a.get("value") is not None:
            parts.append(f"{prompt.key.replace('_', ' ')} {a['value']:g}/{prompt.max}")
    return f" ({', '.join(parts)})" if parts else ""


class ActionSubmitPromptSet(Action):
    """Runs whenever the form ends: saves a finished set, or confirms a stop."""

    def name(self) -> str:
        return "action_submit_prompt_set"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        exit_ = str(tracker.get_slot("loop_exit") or "")
        if exit_ in ("data_delete", "data_export"):
            # The questions wait (answers kept, as a pause); the request is confirmed first.
            return [SlotSet("loop_exit", None), *ask_data_confirmation(dispatcher, exit_)]
        if exit_.startswith("switch:"):
            return await _switch_to(exit_.split(":", 1)[1], dispatcher, tracker)
        if tracker.get_slot("loop_exit") == "pause":
            dispatcher.utter_message(response="utter_checkin_paused")
            command = parse_reminder_command((tracker.latest_message or {}).get("text") or "")
            patient = await current_patient(tracker) if command is not None else None
            if command is not None and patient is not None:
                origin = tracker.get_latest_input_channel() or "chat"
                await apply_reminder_command(dispatcher, patient, command, origin)
            return [SlotSet("loop_exit", None)]
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        prompt_set, _index, answers = checkin_state(tracker)
        if prompt_set is None:
            return []
        stopped = tracker.get_slot("loop_exit") == "stop"
        latest = (tracker.latest_message or {}).get("text") or ""
        if stopped and _skips_today(latest):
            # Said as "no more check-ins today": the schedule skips today as well.
            await apply_reminder_command(
                dispatcher,
                patient,
                parse_reminder_command(latest),
                tracker.get_latest_input_channel() or "chat",
            )
        if stopped and not answers:
            dispatcher.utter_message(response="utter_checkin_stopped")
            return [SlotSet(slot, None) for slot in LOOP_SLOTS]
        instrument = None
        if prompt_set.instrument and len(answers) == len(prompt_set.prompts):
            items = [int(a["value"]) for a in answers]
            total, band = score(prompt_set.instrument, items)
            instrument = (prompt_set.instrument, items, total, band)
        try:
            result = await save_answers(
                patient, prompt_set.id, answers, instrument, "stopped" if stopped else "completed"
            )
        except Exception as exc:
            # Not an outage (that spools): keep the answers in the slots and say so.
            logger.error("could not save a check-in for %s (%s)", patient.ref, type(exc).__name__)
            dispatcher.utter_message(response="utter_checkin_not_saved")
            return []
        events: list[dict[str, Any]] = []
        risk = tracker.get_slot("answer_risk")
        if risk:
            # PHQ-9 item 9 above 0: the same safety path as a risky message (flag first).
            events += await safety_path(
                dispatcher,
                tracker,
                patient,
                text=None,
                risk={"severity": risk, "categories": ["suicide"], "rules": [{"rule": "phq9.item9"}]},
                source="phq9_item9",
            )
        elif not result.saved:
            dispatcher.utter_message(response="utter_checkin_queued")
        elif stopped:
            dispatcher.utter_message(response="utter_checkin_stopped_saved")
        else:
            dispatcher.utter_message(
                text=prompt_set.outro.replace("{summary}", _summary(prompt_set, answers))
            )
            if prompt_set.then:
                following = default_catalogue().get(prompt_set.then)
                if following.intro:
                    dispatcher.utter_message(text=following.intro)
                return [*_fresh_loop(following.id), FollowupAction("prompt_set_form")]
        return events + [SlotSet(slot, None) for slot in LOOP_SLOTS] + [SlotSet("checkin_allowed", None)]


async def _save_partial(tracker: Tracker) -> None:
    """What was answered before switching to other writing is saved (as a stopped check-in)."""
    patient = await current_patient(tracker)
    if patient is not None:
        await save_stopped(tracker, patient)


def _fresh_loop(set_id: str) -> list[dict[str, Any]]:
    return [
        SlotSet("prompt_set", set_id),
        SlotSet("prompt_index", 0),
        SlotSet("prompt_answers", []),
        SlotSet("prompt_retries", 0),
        SlotSet("answer_risk", None),
        SlotSet("loop_exit", None),
    ]


async def pass_note(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> None:
    """Keep a note for the therapist that came with the request itself, in the patient's words,
    as the note prompt would have (an open check-in is left as it is)."""
    patient = await current_patient(tracker)
    if patient is None:
        not_enrolled(dispatcher)
        return
    await keep_writing(dispatcher, patient, "therapist_note", "note", text, "utter_note_passed")


async def _switch_to(target: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    await _save_partial(tracker)
    following = default_catalogue().get(target)
    if following.intro:
        dispatcher.utter_message(text=following.intro)
    return [*_fresh_loop(following.id), SlotSet("checkin_allowed", True), FollowupAction("prompt_set_form")]


class ActionReviewEntries(Action):
    """Shows the patient what they wrote recently (their own data; the read is audited)."""

    def name(self) -> str:
        return "action_review_entries"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await show_entries(dispatcher, tracker)
        return []


async def show_entries(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The patient's own recent entries (their own data; the read is audited)."""
    patient = await current_patient(tracker)
    if patient is None:
        not_enrolled(dispatcher)
        return
    answers = await call(
        runtime.store().checkins.list_answers,
        patient.ref,
        actor=f"patient:{patient.ref}",
        origin="chat",
        last_checkins=REVIEW_CHECKINS,  # decrypt only what is shown
    )
    if not answers:
        dispatcher.utter_message(response="utter_no_entries_yet")
        return
    catalogue = default_catalogue()
    by_checkin: dict[int | None, list] = {}
    for a in answers:
        by_checkin.setdefault(a.checkin_id, []).append(a)
    lines = []
    for group in list(by_checkin.values())[-REVIEW_CHECKINS:]:
        first = group[0]
        title = catalogue.sets[first.prompt_set].title if first.prompt_set in catalogue.sets else "Entry"
        parts = []
        for a in group:
            if a.text:
                parts.append(a.text if len(a.text) <= 300 else a.text[:300] + "...")
            elif a.value is not None:
                parts.append(f"{a.prompt_key.replace('_', ' ')} {a.value:g}")
        if parts:
            lines.append(f"{title}, {first.created_at:%a %d %b}: " + "; ".join(parts))
    dispatcher.utter_message(response="utter_review_intro")
    dispatcher.utter_message(text="\n".join(f"• {line}" for line in lines))


REVIEW_CHECKINS = 5
