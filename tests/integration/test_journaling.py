"""Free journaling, a note to the therapist, reviewing entries, and the medical-advice boundary."""

from __future__ import annotations

import pytest

from bot.chat import ChatError

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

    answers = stack_store.checkins.list_answers(ref, actor="test", origin="test")
    assert [(a.prompt_set, a.prompt_key, a.text) for a in answers] == [
        ("journal", "entry", ENTRY),
        ("therapist_note", "note", "I'd like to talk about my sister next time"),
    ]
    review = stack.say(ref, "what did I write after my last session?")
    assert "Journal entry" in review and ENTRY in review and "Note to your therapist" in review
    reads = [e for e in stack_store.core.audit_events(patient_ref=ref) if e["action"] == "read.journal"]
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
    stack.say(ref, "hi", "I want to kill myself", "yes I'm safe", "I'd rather not say")
    assert "hold off on check-in questions" in stack.say(ref, "check in")
    assert "I'm listening" in stack.say(ref, "I just want to write something")
    assert "kept it for your therapist" in stack.say(ref, "writing helps a bit")


RISKY_ENTRY = "Some nights I think everyone would be better off without me. Today was calmer though."
RISKY_PARAGRAPH = (
    "I don't want questions today, I just want to put this somewhere. Since the session I keep "
    "thinking everyone would be better off without me. I went to work and smiled at people and "
    "nobody noticed anything. My sister called and I let it ring. I don't know what to do with it."
)


@pytest.mark.parametrize(
    ("opening", "text"), [("I just want to write something", RISKY_ENTRY), (None, RISKY_PARAGRAPH)]
)
def test_writing_that_carries_risk_is_flagged_first_and_still_kept(
    stack, stack_store, new_patient, opening, text
):
    """A journal entry (or a paragraph written outside a check-in) with risk in it: the flag and
    the resources come first, and the words are still kept as the patient's journal entry."""
    ref = new_patient()
    stack.say(ref, "hi")
    if opening:
        assert "I'm listening" in stack.say(ref, opening)
    reply = stack.say(ref, text)
    assert stack_store.flags.open_flag_severity(ref) in ("moderate", "high", "critical")
    assert "988" in reply and "also kept this as a journal entry" in reply
    assert reply.index("988") < reply.index("also kept this")
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="test")
    assert [(a.prompt_set, a.text) for a in answers] == [("journal", text)]
    # The journal prompt is closed: the next line is not stored as another entry.
    stack.say(ref, "yes I'm safe")
    assert len(stack_store.checkins.list_answers(ref, actor="test", origin="test")) == 1


def _due(stack, ref: str, prompt_set: str) -> None:
    from bot.flags.handoff import RasaApi

    RasaApi(stack.settings.rasa_url, stack.settings.api_token).trigger_intent(
        ref, "EXTERNAL_checkin_due", {"prompt_set": prompt_set}
    )


@pytest.mark.parametrize(
    ("prompt_set", "answers", "first_question"),
    [
        (
            "preparation",
            ["To be gentle with myself", "Hoping for calm, worried about nausea", "My sister", "6"],
            "What intention would you like to bring",
        ),
        (
            "day1",
            [
                "7",
                "Badly, woke at 4",
                "Colours and my grandmother's kitchen",
                "A sadness I can't place",
                "skip",
            ],
            "How is your mood today",
        ),
        (
            "day3",
            ["That I've been carrying old grief", "I'm softer with my partner", "Call my sister"],
            "What meaning are you making",
        ),
        (
            "day7",
            ["Walking every morning", "Work stress", "I want to talk about my father"],
            "What helped you",
        ),
    ],
)
def test_every_session_set_completes_when_due(
    stack, stack_store, new_patient, prompt_set, answers, first_question
):
    ref = new_patient()
    client = stack.client(ref)
    client.send("hi")
    client.fetch_outbox()
    _due(stack, ref, prompt_set)  # what the scheduler does: the first question arrives unprompted
    assert first_question in "\n".join(m.get("text", "") for m in client.fetch_outbox())
    replies = []
    for answer in answers:
        replies = client.send(answer)
    assert "saved" in replies[-1]["text"]
    saved = [
        a for a in stack_store.checkins.list_answers(ref, actor="t", origin="t") if a.prompt_set == prompt_set
    ]
    assert len(saved) == len(answers)


def test_a_follow_up_only_when_the_answer_calls_for_it(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "5")
    assert "what's behind it" in stack.say(ref, "8")  # anxiety 8: the follow-up
    assert "hours did you sleep" in stack.say(ref, "a deadline at work")
    stack.say(ref, "7", "ok")
    keys = [a.prompt_key for a in stack_store.checkins.list_answers(ref, actor="t", origin="t")]
    assert keys == ["mood", "anxiety", "anxiety_about", "sleep_hours", "note"]
    other = new_patient()
    stack.say(other, "hi", "check in", "5")
    assert "hours did you sleep" in stack.say(other, "2")  # anxiety 2: no follow-up


def test_empty_emoji_and_very_long_answers(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in")
    # Empty text is refused by the channel with a clear error (bot/channels/textcheck.py), and
    # the check-in stays where it was.
    with pytest.raises(ChatError, match="must contain some text"):
        stack.say(ref, "")
    assert "put it in words or a number" in stack.say(ref, "🙂")  # emoji only: a gentle prompt
    stack.say(ref, "6", "3", "7")
    long_note = "I kept writing. " * 320  # about 5,000 characters
    assert "mood 6/10" in stack.say(ref, long_note)
    note = [
        a.text
        for a in stack_store.checkins.list_answers(ref, actor="t", origin="t")
        if a.prompt_key == "note"
    ]
    assert note == [long_note.strip()]
