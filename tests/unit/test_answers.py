import pytest

from bot.prompts.answers import is_skip, is_stop_command, loop_command, parse_scale


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        ("seven", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("about a 6", 6),
        ("maybe a 4 today", 4),
        ("0", 0),
        ("zero", 0),
        ("10", 10),
        ("Ten", 10),
        ("6.5", 7),
        ("7\ufe0f\u20e3", 7),
        ("I'd say 8, it was a good day", 8),
    ],
)
def test_numbers_people_write(text, expected):
    assert parse_scale(text) == expected


@pytest.mark.parametrize("text", ["", "good", "6 or 7", "11", "-3", "100", "a journal paragraph"])
def test_ambiguous_or_out_of_range_is_none(text):
    assert parse_scale(text) is None


def test_skip_words():
    assert is_skip("skip") and is_skip("Skip this one.") and not is_skip("skipped breakfast")


@pytest.mark.parametrize(
    "text", ["stop", "Stop.", "not now", "can we stop", "Let\u2019s stop here", "later!"]
)
def test_explicit_stop_commands(text):
    assert is_stop_command(text)


@pytest.mark.parametrize(
    "text",
    ["load test note", "I want to stop feeling like this", "later I went for a walk", "notes", "no"],
)
def test_journal_lines_are_not_stop_commands(text):
    assert not is_stop_command(text)


def test_loop_commands():
    assert loop_command("not now") == "pause" and loop_command("Later!") == "pause"
    assert loop_command("stop for today") == "stop" and loop_command("that's enough") == "stop"
    assert loop_command("go back") == "back" and loop_command("I made a mistake.") == "back"
    assert loop_command("I went back to bed") is None
