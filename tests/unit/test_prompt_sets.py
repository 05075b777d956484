import pytest

from bot.prompts.answers import parse_answer
from bot.prompts.instruments import phq9_item9_severity, score
from bot.prompts.sets import PromptSetError, default_catalogue, parse_prompt_set


@pytest.mark.parametrize(
    ("instrument", "items", "total", "band"),
    [
        ("phq9", [0] * 9, 0, "minimal"),
        ("phq9", [1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),
        ("phq9", [1] * 5 + [0] * 4, 5, "mild"),
        ("phq9", [1] * 9 + [0] * 0, 9, "mild"),
        ("phq9", [2] * 5 + [0] * 4, 10, "moderate"),
        ("phq9", [2] * 7 + [0, 0], 14, "moderate"),
        ("phq9", [2] * 7 + [1, 0], 15, "moderately severe"),
        ("phq9", [2] * 9 + [1], None, None),
        ("phq9", [3] * 6 + [1, 1, 0], 20, "severe"),
        ("phq9", [3] * 9, 27, "severe"),
        ("gad7", [0] * 7, 0, "minimal"),
        ("gad7", [1] * 5 + [0, 0], 5, "mild"),
        ("gad7", [2] * 5 + [0, 0], 10, "moderate"),
        ("gad7", [2] * 7 + [0] * 0, 14, "moderate"),
        ("gad7", [3] * 5 + [0, 0], 15, "severe"),
        ("gad7", [3] * 7, 21, "severe"),
    ],
)
def test_scores_and_bands_exactly(instrument, items, total, band):
    if total is None:
        with pytest.raises(ValueError):
            score(instrument, items)
        return
    assert score(instrument, items) == (total, band)


def test_incomplete_or_out_of_range_is_refused():
    with pytest.raises(ValueError):
        score("phq9", [1] * 8)
    with pytest.raises(ValueError):
        score("gad7", [4] + [0] * 6)


def test_item9_severity():
    assert [phq9_item9_severity(v) for v in range(4)] == [None, "moderate", "high", "high"]


def test_shipped_sets_load_and_phq9_item9_is_marked():
    c = default_catalogue()
    assert {"daily", "preparation", "day1", "day3", "day7", "phq9", "gad7"} <= set(c.sets)
    phq9 = c.get("phq9")
    assert phq9.prompts[8].risk == "phq9_item9" and phq9.then == "gad7"
    assert phq9.prompts[8].text.startswith("Thoughts that you would be better off dead")


def test_choice_answers_by_payload_or_words():
    item = default_catalogue().get("phq9").prompts[0]
    assert parse_answer(item, "2", max_chars=100).value == 2
    assert parse_answer(item, "Nearly every day", max_chars=100).value == 3
    assert parse_answer(item, "several days.", max_chars=100).value == 1
    assert parse_answer(item, "maybe", max_chars=100).error == "unparseable"
    assert parse_answer(item, "skip", max_chars=100).error == "not_skippable"


def test_other_answer_types():
    daily = default_catalogue().get("daily")
    mood, _, sleep, note = daily.prompts
    assert parse_answer(mood, "7/10", max_chars=100).value == 7
    assert parse_answer(sleep, "about 6.5 hours", max_chars=100).value == 6.5
    assert parse_answer(note, "x" * 101, max_chars=100).error == "too_long"
    assert parse_answer(note, "skip", max_chars=100).skipped


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "x", "title": "X", "outro": "o"}, "needs 'prompts'"),
        (
            {"id": "x", "title": "X", "outro": "o", "prompts": [{"key": "a", "text": "t", "type": "essay"}]},
            "type must",
        ),
        (
            {"id": "x", "title": "X", "outro": "o", "prompts": [{"key": "a", "text": "t", "type": "choice"}]},
            "two options",
        ),
        (
            {
                "id": "x",
                "title": "X",
                "outro": "o",
                "instrument": "phq9",
                "prompts": [{"key": "a", "text": "t", "type": "text"}],
            },
            "exactly 9",
        ),
    ],
)
def test_invalid_sets_are_clear_errors(data, message):
    with pytest.raises(PromptSetError, match=message):
        parse_prompt_set(data, "bad.yml")
