"""Answer parsing and the detector against any text (Hypothesis): never an exception, values
always in range, nothing a patient can type crashes a check-in or the safety check."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.prompts.answers import is_skip, is_stop_command, loop_command, parse_answer, parse_scale
from bot.prompts.sets import Option, Prompt
from bot.safety.assessment import SEVERITIES
from bot.safety.service import default_detector

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=200)
PROMPTS = [
    Prompt("mood", "Mood?", "scale", 0, 10),
    Prompt("phq", "Item?", "scale", 0, 3, skippable=False),
    Prompt("sleep", "Hours?", "number"),
    Prompt("yes", "Did you?", "yes_no"),
    Prompt("pick", "Which?", "choice", options=(Option(0, "Not at all"), Option(1, "Several days"))),
    Prompt("note", "Anything?", "text"),
]


@SETTINGS
@given(ANY_TEXT, st.integers(0, 5), st.integers(1, 10))
def test_scale_answers_are_in_range_or_none(text, low, span):
    value = parse_scale(text, low, low + span)
    assert value is None or low <= value <= low + span


@SETTINGS
@given(ANY_TEXT, st.sampled_from(PROMPTS))
def test_any_text_is_understood_or_refused_never_raises(text, prompt):
    parsed = parse_answer(prompt, text, max_chars=100)
    assert parsed.ok or parsed.error in ("unparseable", "empty", "too_long", "not_skippable")
    if parsed.value is not None:
        assert math.isfinite(parsed.value)
        if prompt.type == "scale":
            assert prompt.min <= parsed.value <= prompt.max
        if prompt.type == "choice":
            assert parsed.value in {o.value for o in prompt.options}
    if parsed.text is not None:
        assert len(parsed.text) <= 100
    is_skip(text), is_stop_command(text), loop_command(text)  # must not raise


@SETTINGS
@given(ANY_TEXT)
def test_the_detector_takes_any_text(text):
    result = default_detector().assess(text)
    assert result.severity in SEVERITIES
    for hit in result.rules:
        assert 0 <= hit.start <= hit.end <= len(text)
