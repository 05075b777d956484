"""Consent on first contact: asked, version stored, and nothing kept before it."""

from __future__ import annotations

import pytest

from bot.patients.consent import consent_text

pytestmark = pytest.mark.integration


def test_consent_is_asked_and_its_version_stored(stack, stack_store, new_patient):
    ref = new_patient(consented=False)
    hello = stack.say(ref, "hi")
    assert "not an emergency service" in hello and "Do you agree to use Interlude" in hello
    # While the question is open, anything but yes or no gets the question again.
    again = stack.say(ref, "check in")
    assert "yes or a no" in again and "Do you agree to use Interlude" in again
    assert stack_store.checkins.list_answers(ref, actor="t", origin="t") == []
    reply = stack.say(ref, "yes")
    assert "Your answer is recorded" in reply and "short check-in" in reply
    events = [e for e in stack_store.core.audit_events(patient_ref=ref) if e["action"] == "consent.accept"]
    # The demo clinic has alert channels: the version names the wording that says so.
    assert events[0]["detail"] == {"text_version": consent_text(alerts=True).version}
    assert "How is your mood" in stack.say(ref, "check in")


def test_writing_before_consent_is_told_it_was_not_kept(stack, stack_store, new_patient):
    ref = new_patient(consented=False)
    stack.say(ref, "hi")
    dream = (
        "Last night I dreamt I was walking through my grandmother's house again, every room was "
        "full of light and the doors kept opening onto the sea. I woke up calm for the first time "
        "in weeks and I want to remember how that felt."
    )
    reply = stack.say(ref, dream)
    assert "Before I can keep anything you write, I need your OK" in reply, reply
    assert "Do you agree to use Interlude" in reply
    assert stack_store.checkins.list_answers(ref, actor="t", origin="t") == []


def test_declining_keeps_nothing_but_risk_is_still_handled(stack, stack_store, new_patient):
    ref = new_patient(consented=False)
    stack.say(ref, "hi")
    assert "won't record check-ins or journal entries" in stack.say(ref, "no")
    assert not stack_store.patients.has_consented(ref)
    assert "need your OK" in stack.say(ref, "I just want to write something")
    reply = stack.say(ref, "I want to kill myself")  # safety never waits for consent
    assert "988" in reply and stack_store.flags.open_flag_severity(ref) == "high"
