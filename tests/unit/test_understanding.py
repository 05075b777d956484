"""Reading what patients type: literal commands, number words, corrections, reminder talk, locale."""

from __future__ import annotations

import pytest

from bot.prompts.answers import behaviour_in_prompt, parse_correction, parse_scale
from bot.prompts.sets import default_catalogue
from bot.safety.resources import locale_for
from bot.schedule.controls import parse_reminder_command
from bot.understanding import is_emoji_only, is_long_entry, literal, yes_no

DAILY = default_catalogue().get("daily")
MOOD, ANXIETY, SLEEP, NOTE = DAILY.prompts
ITEM = default_catalogue().get("phq9").prompts[0]


@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("can we pause?", "pause"),
        ("pasue", "pause"),
        ("go back?", "correct"),
        ("go bakc", "correct"),
        ("skip?", "skip"),
        ("skip this one pls", "skip"),
        ("ok can we carry on please", "resume"),
        ("r u a bot", "bot_question"),
        ("who reads this?", "privacy"),
        ("please delete all my data", "data_delete"),
        ("can I get a copy of my entries", "data_export"),
        ("can I talk to a real person", "human"),
        ("🙂👍", "emoji_only"),
        ("thanks!", "thanks_bye"),
        ("hello there", "greet"),
    ],
)
def test_literal_commands_tolerate_punctuation_politeness_and_typos(text: str, behaviour: str) -> None:
    assert literal(text) == behaviour


@pytest.mark.parametrize(
    "text",
    [
        "i want to pause more in my day, that was the main takeaway",
        "i skipped breakfast and still felt calm, which is new for me",
        "one step at a time",
    ],
)
def test_a_journal_line_that_mentions_a_command_stays_an_answer(text: str) -> None:
    assert behaviour_in_prompt(NOTE, text) == "answer"


def test_a_number_word_inside_a_refusal_is_not_the_answer() -> None:
    assert parse_scale("it's been one of those days") is None
    assert behaviour_in_prompt(MOOD, "I'd rather not say, it's been one of those days") == "skip"
    assert parse_scale("about a seven") == 7 and parse_scale("seven") == 7
    assert parse_scale("talked to my sister for the first time in 4 months") is None


def test_corrections_name_the_new_number() -> None:
    assert parse_correction(MOOD, "sorry I meant 6 not 4") == 6
    assert parse_correction(MOOD, "should be seven, not five") == 7
    assert parse_correction(MOOD, "change it from 4 to 6") == 6
    assert parse_correction(ITEM, "oops that was supposed to be 'several days' not 'nearly every day'") == 1
    assert behaviour_in_prompt(ANXIETY, "actually make that a 6 not a 4") == "correct"


def test_typed_yes_and_no() -> None:
    assert yes_no("yes I agree 👍") == "yes" and yes_no("sure why not") == "yes"
    assert yes_no("not rn") == "no" and yes_no("can i think about it first") == "no"
    assert yes_no("what is this") is None


def test_emoji_and_long_entries() -> None:
    assert is_emoji_only("😔😔") and not is_emoji_only("7\ufe0f\u20e3") and not is_emoji_only("ok 🙂")
    assert is_long_entry("Today was strange. " * 10) and not is_long_entry("a calm day")


def test_reminder_talk() -> None:
    assert parse_reminder_command("every day at 8pm").at.hour == 20
    assert parse_reminder_command("no more reminders today pls").kind == "skip_today"
    assert parse_reminder_command("10pm") is None
    assert parse_reminder_command("10pm", in_reminder_talk=True).at.hour == 22
    assert parse_reminder_command("i woke up at 8am and felt fine") is None


def test_locale_follows_the_time_zone_then_the_clinic() -> None:
    assert locale_for("Europe/London") == "en-GB"
    assert locale_for("UTC", "IE") == "en-IE"
    assert locale_for("UTC") == "en-US"
