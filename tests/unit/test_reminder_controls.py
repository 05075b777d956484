"""What patients say about reminders, read literally (bot/schedule/controls.py)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from bot.prompts.answers import loop_command
from bot.schedule.controls import ReminderCommand, parse_reminder_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("remind me in an hour", ReminderCommand("postpone", delay=timedelta(hours=1))),
        ("Remind me in 2 hours!", ReminderCommand("postpone", delay=timedelta(hours=2))),
        ("remind me again in 30 minutes", ReminderCommand("postpone", delay=timedelta(minutes=30))),
        ("remind me in half an hour", ReminderCommand("postpone", delay=timedelta(minutes=30))),
        ("remind me in 90 hours", ReminderCommand("postpone", delay=timedelta(hours=12))),  # capped
        ("remind me later", ReminderCommand("postpone", delay=timedelta(hours=1))),
        ("not today", ReminderCommand("skip_today")),
        ("Not today.", ReminderCommand("skip_today")),
        ("stop reminders", ReminderCommand("stop")),
        ("please stop sending me reminders", ReminderCommand("stop")),
        ("no more reminders", ReminderCommand("stop")),
        ("turn reminders back on", ReminderCommand("resume")),
        ("resume reminders", ReminderCommand("resume")),
        ("change my check-in time to 8pm", ReminderCommand("set_time", at=time(20))),
        ("i'd prefer my check-ins at 6pm", ReminderCommand("set_time", at=time(18))),
        ("check in with me every day at 7:30 am", ReminderCommand("set_time", at=time(7, 30), daily=True)),
        ("remind me every day at 20:00", ReminderCommand("set_time", at=time(20), daily=True)),
    ],
)
def test_reminder_commands(text, expected):
    assert parse_reminder_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I want to stop feeling like this",
        "i slept at 8pm",
        "today was not great",
        "skip",
        "later that day I called my sister and we talked about stopping the reminders of the past " * 3,
        "",
    ],
)
def test_journal_lines_are_not_commands(text):
    assert parse_reminder_command(text) is None


def test_inside_a_check_in_reminder_commands_pause_the_questions():
    assert loop_command("remind me in an hour") == "pause"
    assert loop_command("stop reminders") == "pause"
    assert loop_command("change my check-in time to 8pm") == "pause"
    assert loop_command("i slept at 8pm") is None  # an answer, kept as one


@pytest.mark.parametrize("text", ["7 hours", "about 3 hours", "like 3 hours", "2 hrs"])
def test_a_bare_number_of_hours_is_an_answer_not_a_postponement(text):
    """A patient's try: "7 hours" to "how many hours did you sleep?" paused the check-in."""
    assert parse_reminder_command(text) is None
    assert loop_command(text) is None
    # Right after the bot asked about reminders it is one.
    assert parse_reminder_command(text, in_reminder_talk=True).kind == "postpone"
    # With "in" or "later" it is a postponement anywhere.
    assert parse_reminder_command(f"in {text}").kind == "postpone"
