"""PHQ-9 and GAD-7 through the real stack: exact scores, and item 9 takes the safety path."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_phq9_then_gad7_scored_exactly(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    first = stack.say(ref, "can i do the questionnaire")
    assert "Over the last 2 weeks" in first and "Little interest or pleasure" in first
    phq = ["1", "several days", "2", "Nearly every day", "0", "1", "not at all", "2"]
    for answer in phq:
        stack.say(ref, answer)
    reply = stack.say(ref, "0")  # item 9: not at all
    assert "seven questions about anxiety" in reply and "Feeling nervous, anxious, or on edge" in reply
    for answer in ["1", "1", "2", "0", "more than half the days", "3"]:
        reply = stack.say(ref, answer)
    reply = stack.say(ref, "1")
    assert "saved your answers" in reply
    results = stack_store.checkins.instrument_results(ref, actor="test", origin="test")
    assert [(r["instrument"], r["items"], r["total"], r["band"]) for r in results] == [
        ("phq9", [1, 1, 2, 3, 0, 1, 0, 2, 0], 10, "moderate"),
        ("gad7", [1, 1, 2, 0, 2, 3, 1], 10, "moderate"),
    ]
    assert stack_store.flags.open_flag_severity(ref) is None


def test_phq9_item9_above_zero_takes_the_safety_path(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "phq9")
    for _ in range(8):
        stack.say(ref, "0")
    reply = stack.say(ref, "2")  # item 9: more than half the days
    assert "988" in reply and "Are you safe right now?" in reply
    assert "anxiety" not in reply  # the safety path comes first; GAD-7 does not start
    assert stack_store.flags.open_flag_severity(ref) == "high"
    flag = next(f for f in stack_store.flags.list_flags(actor="t", origin="t") if f.patient_ref == ref)
    assert flag.signals[0]["rules"][0]["rule"] == "phq9.item9"
    results = stack_store.checkins.instrument_results(ref, actor="t", origin="t")
    assert results[0]["items"][-1] == 2 and results[0]["total"] == 2  # the answers were saved too


def test_a_questionnaire_answer_must_be_given(stack, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "questionnaire")
    assert "only works with an answer to every question" in stack.say(ref, "skip")
    assert "Feeling down, depressed, or hopeless" in stack.say(ref, "0")
