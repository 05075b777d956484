"""Rasa sessions that end, over the real stack: after a long silence the next message opens a
new session (loaded alone), the check-in in progress and the slots carry over, and the portal's
transcript still shows every session."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.bench_compare import age_session
from bot.demo import DEMO_THERAPIST_EMAIL
from bot.store.models import RasaEvent

pytestmark = pytest.mark.integration

SILENCE = 7 * 3600  # longer than domain.yml's session_expiration_time (6 h)


def _age_current_session(store, ref: str, seconds: float) -> None:
    """Move the current session's events back in time, as if the patient went quiet."""
    age_session(store, seconds)(ref)


def _sessions(store, ref: str) -> list[int]:
    with store.core.factory() as s:
        return list(
            s.execute(
                select(RasaEvent.session_no).where(RasaEvent.sender_id == ref).order_by(RasaEvent.seq)
            ).scalars()
        )


def test_a_long_conversation_crosses_session_boundaries_without_losing_its_place(
    stack, stack_store, new_patient
):
    ref = new_patient()
    stack.say(ref, "hi", "check in")
    assert "how anxious" in stack.say(ref, "6")
    assert max(_sessions(stack_store, ref)) == 1

    # The patient goes quiet mid check-in; their next answer opens session 2 and continues it.
    _age_current_session(stack_store, ref, SILENCE)
    assert "hours did you sleep" in stack.say(ref, "3")
    assert max(_sessions(stack_store, ref)) == 2
    assert "mood 6/10, anxiety 3/10" in stack.say(ref, "7", "a calm afternoon")

    # Many more messages, across another boundary: the conversation still works.
    for day in range(3):
        if day == 2:
            _age_current_session(stack_store, ref, SILENCE)
        reply = stack.say(ref, "hello", "check in", "5", "4", "8")
        assert "Anything you'd like to note" in reply, reply
        assert "mood 5/10" in stack.say(ref, f"note for day {day}")
    assert max(_sessions(stack_store, ref)) == 3
    assert "Welcome back" in stack.say(ref, "hi")  # onboarding is not repeated in a new session

    # Rasa loads only the current session; the transcript reads all of them.
    rows = _sessions(stack_store, ref)
    assert rows == sorted(rows) and rows.count(3) < len(rows) / 2
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    texts = [m["text"] for m in stack_store.patient_views.transcript_for(staff, ref)]
    assert texts[:2] == ["hi", texts[1]] and "6" in texts and "a calm afternoon" in texts
    assert [t for t in texts if t.startswith("note for day")] == [
        "note for day 0",
        "note for day 1",
        "note for day 2",
    ]
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [a.value for a in answers[:3]] == [6.0, 3.0, 7.0]
