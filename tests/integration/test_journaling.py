"""Free journaling, a note to the therapist, reviewing entries, and the medical-advice boundary."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

ENTRY = "The ocean image from the session keeps coming back; it feels like permission to rest."


def test_journal_note_and_review(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    assert "I'm listening" in stack.say(ref, "I just want to write something")
    assert "kept it for your therapist" in stack.say(ref, ENTRY)
    assert "What would you like your therapist to know" in stack.say(
        ref, "can you tell my therapist something"
    )
    assert "isn't sent as an urgent message" in stack.say(ref, "I'd like to talk about my sister next time")

    answers = stack_store.list_answers(ref, actor="test", origin="test")
    assert [(a.prompt_set, a.prompt_key, a.text) for a in answers] == [
        ("journal", "entry", ENTRY),
        ("therapist_note", "note", "I'd like to talk about my sister next time"),
    ]
    review = stack.say(ref, "what did I write after my last session?")
    assert "Journal entry" in review and ENTRY in review and "Note to your therapist" in review
    reads = [e for e in stack_store.audit_events(patient_ref=ref) if e["action"] == "read.journal"]
    assert any(e["actor"] == f"patient:{ref}" and e["origin"] == "chat" for e in reads)


def test_no_entries_yet(stack, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    assert "haven't saved any entries yet" in stack.say(ref, "show me my entries")


def test_medical_questions_get_a_gentle_boundary(stack, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    assert "can't give medical or dosing advice" in stack.say(ref, "should I increase my dose?")


def test_writing_stays_open_while_checkins_are_held(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "I want to kill myself", "yes I'm safe")
    assert "hold off on check-in questions" in stack.say(ref, "check in")
    assert "I'm listening" in stack.say(ref, "I just want to write something")
    assert "kept it for your therapist" in stack.say(ref, "writing helps a bit")
