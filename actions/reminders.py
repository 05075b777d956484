"""Reminders, as the patient controls them in conversation, and the scheduler's gentle nudge.

"remind me in an hour", "not today", "stop reminders", "turn reminders back on", "change my
check-in time to 8pm": read literally by bot/schedule/controls.py, applied through the store
(audited as the patient's choice). Inside a check-in the same words pause the questions first
(actions/checkin.py), with the answers kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.checkin_state import LOOP_SLOTS, checkin_state, save_stopped
from actions.common import call, current_patient, not_enrolled
from bot import runtime
from bot.patients.store import PatientRef
from bot.schedule.controls import ReminderCommand, parse_reminder_command, time_until
from bot.schedule.plan import default_plan, local_due
from bot.schedule.worker import after_quiet_hours

NUDGE_BUTTONS = [
    {"title": "Check in now", "payload": "/start_checkin"},
    {"title": "Not today", "payload": "not today"},
]


def _local(when: datetime, tz: ZoneInfo, now: datetime) -> str:
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    day = "" if local.date() == today else "tomorrow " if (local.date() - today).days == 1 else f"{local:%A} "
    return f"{day}{local:%H:%M}".strip()


async def apply_reminder_command(
    dispatcher: CollectingDispatcher, patient: PatientRef, command: ReminderCommand, origin: str
) -> None:
    """Change the schedule as the patient asked, and say what changed."""
    store, plan = runtime.store(), default_plan()
    tz = ZoneInfo(patient.timezone)
    now = store.core.now()
    if command.kind == "stop":
        await call(store.patients.set_reminders_paused, patient.ref, True, origin=origin)
        dispatcher.utter_message(response="utter_reminders_paused")
    elif command.kind == "resume":
        await call(store.patients.set_reminders_paused, patient.ref, False, origin=origin)
        dispatcher.utter_message(response="utter_reminders_resumed")
    elif command.kind == "skip_today":
        await call(store.schedule.skip_today, patient.ref, origin=origin)
        dispatcher.utter_message(response="utter_reminders_skip_today")
    elif command.kind == "postpone" and (command.delay is not None or command.at is not None):
        delay = command.delay if command.delay is not None else time_until(command.at, now, tz)
        command = ReminderCommand("postpone", delay=delay)
        moved = await call(store.schedule.postpone_outstanding, patient.ref, command.delay, origin=origin)
        if not moved:
            dispatcher.utter_message(response="utter_reminders_nothing_waiting")
            return
        when = now + command.delay
        when = after_quiet_hours(when, tz, plan) or when  # quiet hours hold it till morning
        dispatcher.utter_message(response="utter_reminders_postponed", when=_local(when, tz, now))
    elif command.kind == "set_time" and command.at is not None:
        await call(
            store.schedule.set_checkin_preferences,
            patient.ref,
            at=command.at,
            daily=command.daily,
            plan=plan,
            origin=origin,
        )
        _time, daily = await call(store.schedule.checkin_preferences, patient.ref)
        asked = command.at.strftime("%H:%M")
        # Quiet hours move a check-in asked for inside them: say the time it will really come.
        real = local_due(now.astimezone(tz).date(), command.at, tz, plan).astimezone(tz).strftime("%H:%M")
        dispatcher.utter_message(
            response="utter_reminders_time_set" if real == asked else "utter_reminders_time_moved",
            when=real,
            asked=asked,
            daily=", every day" if daily else "",
        )


def _in_reminder_talk(tracker: Tracker) -> bool:
    """Whether the bot's last action before this message was about reminders."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name") == "action_reminders"
    return False


class ActionReminders(Action):
    """`manage_reminders` and `not_now` outside a check-in."""

    def name(self) -> str:
        return "action_reminders"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        patient = await current_patient(tracker)
        if patient is None:
            return not_enrolled(dispatcher)
        message = tracker.latest_message or {}
        command = parse_reminder_command(
            message.get("text") or "", in_reminder_talk=_in_reminder_talk(tracker)
        )
        events: list[dict[str, Any]] = []
        if command is not None and command.kind == "skip_today":
            events = await _close_paused(tracker, patient)  # no more today: a paused one is saved as it is
        if command is not None:
            await apply_reminder_command(
                dispatcher, patient, command, tracker.get_latest_input_channel() or "chat"
            )
        elif (message.get("intent") or {}).get("name") == "not_now":
            dispatcher.utter_message(response="utter_not_now")
        else:
            dispatcher.utter_message(response="utter_reminders_help")
        return events


async def _close_paused(tracker: Tracker, patient: PatientRef) -> list[dict[str, Any]]:
    """A paused check-in cannot be picked up after "no more check-ins today": save what was
    answered (as a stopped check-in), as "stop for today" does."""
    prompt_set, _index, _answers = checkin_state(tracker)
    if prompt_set is None or tracker.active_loop.get("name"):
        return []
    await save_stopped(tracker, patient)
    return [SlotSet(slot, None) for slot in LOOP_SLOTS]


class ActionCheckinNudge(Action):
    """The scheduler's one gentle nudge for a check-in left unanswered."""

    def name(self) -> str:
        return "action_checkin_nudge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.active_loop.get("name"):
            return []  # they are answering it right now: no nudge needed
        dispatcher.utter_message(response="utter_checkin_nudge", buttons=NUDGE_BUTTONS)
        return []
