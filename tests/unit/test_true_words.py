"""Issue #15, "only true words": replies that say who sees what the patient shared, under both
alert configurations, and the reply to "are you safe right now?" read as an answer only when it
is one."""

from __future__ import annotations

import pytest

from bot.patients.consent import consent_text
from bot.safety.replies import FOLLOWUPS, followup_reply
from bot.safety.resources import coverage_text, resources_for
from bot.safety.safe_check import NO, UNSURE, YES, parse_safe_answer

US = resources_for("en-US")
#: Words that promise a person will act: backed only by an alert to a configured channel.
PROMISES = ("alerted", "alert your", "will be in touch", "will contact you", "follow up", "on-call")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/affirm", YES),
        ("/deny", NO),
        ("yes", YES),
        ("Yes, I'm safe right now", YES),
        ("yse", YES),  # typos forgiven
        ("saef", YES),
        ("im safe thanks", YES),
        ("i'm ok", YES),
        ("yeah for now", YES),
        ("don't worry, I'm safe", YES),  # "don't worry" is not a negation
        ("👍", YES),
        ("no", NO),
        ("nooo", NO),
        ("No, I'm not safe", NO),
        ("I don't feel safe", NO),
        ("not really", NO),
        ("nto safe", NO),
        ("I don't know", UNSURE),
        ("idk", UNSURE),
        ("not sure", UNSURE),
        ("maybe", UNSURE),
        ("I'd rather not say", UNSURE),
        ("no I'm fine", UNSURE),  # not a clear yes either way
    ],
)
def test_an_answer_to_are_you_safe_is_read_as_one(text, expected):
    assert parse_safe_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "is it ok to have a glass of wine after my troche?",
        "what time is my session tomorrow",
        "I went for a walk and the light was lovely",
        "can you help me",
        "hello",
        "thanks",
        "I'm the same",
        "yes but I want to ask about my dose",
        "",
        None,
    ],
)
def test_a_new_message_is_not_an_answer(text):
    """Before, anything but a clear yes was read as "not safe": the flag went critical."""
    assert parse_safe_answer(text) is None


@pytest.mark.parametrize("kind", FOLLOWUPS)
def test_followups_promise_contact_only_when_an_alert_went_out(kind):
    portal = followup_reply(kind, US, alerted=False, on_call=True)
    assert "in their portal during clinic hours" in portal
    assert not any(p in portal for p in PROMISES), portal
    assert "911" in portal  # the crisis numbers are pointed to
    alerted = followup_reply(kind, US, alerted=True, on_call=False)
    assert "alerted" in alerted and "portal" not in alerted and "on-call" not in alerted
    assert "will be in touch" in alerted or "don't wait for them" in alerted
    on_call = followup_reply(kind, US, alerted=True, on_call=True)
    assert "on-call team" in on_call and "will contact you" in on_call


def test_a_not_safe_answer_gets_the_numbers_and_honest_words():
    reply = followup_reply("safe_no", US, alerted=False, on_call=False)
    assert reply.startswith("Thank you for being honest with me. Please call 911 now, or one of these:")
    assert "988" in reply and "marked this as urgent for your care team" in reply
    assert "don't wait for them" in reply
    unrecorded = followup_reply("safe_no", US, alerted=False, on_call=False, recorded=False)
    assert "portal" not in unrecorded and "urgent for your care team" not in unrecorded
    assert "988" in unrecorded and "  " not in unrecorded


def test_the_held_checkin_points_to_the_numbers():
    held = followup_reply("checkin_held", US, alerted=False, on_call=False)
    assert held.startswith("Let's hold off on check-in questions for now.")
    assert "988" in held and "will be in touch" not in held


def test_consent_says_alert_only_when_the_clinic_has_an_alert_channel():
    with_alerts = consent_text(alerts=True)
    without = consent_text(alerts=False)
    assert "alert your care team" in with_alerts.text
    assert "alert" not in without.text.replace("nobody is alerted", "")
    assert "in their portal during clinic hours" in without.text
    assert "{on_risk}" not in with_alerts.text + without.text
    # The stored version names the wording shown.
    assert with_alerts.version.endswith("+alerted") and without.version.endswith("+portal")
    assert len(with_alerts.version) <= 32  # consents.text_version


def test_coverage_promises_contact_only_with_an_alert_channel():
    none = coverage_text(alerts=False, on_call_cover=True)  # on-call cover, but nobody is alerted
    assert "nobody is alerted" in none and "on-call" not in none and "will contact you" not in none
    assert "alerted, but they may not see it until clinic hours" in coverage_text(
        alerts=True, on_call_cover=False
    )
    assert "someone will contact you" in coverage_text(alerts=True, on_call_cover=True)
    for alerts in (True, False):
        for on_call in (True, False):
            assert "below" not in coverage_text(alerts=alerts, on_call_cover=on_call)


def test_a_yes_after_a_later_question_answers_that_question():
    """With "are you safe right now?" open, the bot asks to confirm a data request: the next
    "yes" is the confirmation, not the safety answer; with no later question it is the answer."""
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa_ext.safety_policy import safety_question_is_latest

    asked = [SlotSet("pending_question", "consent"), SlotSet("safety_check_pending", True)]
    tracker = DialogueStateTracker.from_events("p", asked)
    slots = ("safety_check_pending", "pending_question")
    assert safety_question_is_latest(tracker, *slots)
    tracker = DialogueStateTracker.from_events("p", [*asked, SlotSet("pending_question", "data_delete")])
    assert not safety_question_is_latest(tracker, *slots)
    cleared = [*asked, SlotSet("pending_question", None)]  # the screener waits: not a question
    assert safety_question_is_latest(DialogueStateTracker.from_events("p", cleared), *slots)
