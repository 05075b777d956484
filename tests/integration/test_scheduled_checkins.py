"""Proactive check-ins through the whole stack, on the real clock: the patient sets a daily
time in conversation, the scheduler process (started by `interlude run`) finds it due and
starts it through Rasa, and the first question arrives in Telegram and in the open widget.

The patient's time zone is chosen so that it is midday for them whenever the test runs, so
quiet hours never get in the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.integration.test_telegram import joined, say
from tests.integration.test_webchat import ARTIFACTS, send, wait_log

pytestmark = pytest.mark.integration


def midday_zone() -> str:
    """An Etc/GMT zone where it is about 12:00 now."""
    offset = 12 - datetime.now(UTC).hour  # hours to add to UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc names invert the sign


def soon_in(zone: str) -> str:
    """A local time a minute or so ahead in `zone`, taken just before the patient says it (taken
    earlier, a slow enrollment on a busy machine could put it in the past: tomorrow's check-in)."""
    return (datetime.now(ZoneInfo(zone)) + timedelta(minutes=1)).strftime("%H:%M")


def test_a_daily_checkin_set_in_conversation_arrives_on_telegram(
    stack, stack_store, patient_telegram, enroll
):
    tg = patient_telegram
    zone = midday_zone()
    chat, ref = joined(tg, stack_store, enroll, timezone=zone)
    soon = soon_in(zone)
    reply = say(tg, chat, f"check in with me every day at {soon}", "I'll check in around")
    assert f"around {soon} your time from now on, every day" in reply
    assert stack_store.schedule.checkin_preferences(ref) == (soon, True)
    start = len(tg.texts_to(chat))
    tg.wait_for_text(chat, "How is your mood today", start=start, timeout=150)
    # Rasa delivers the message before trigger_intent returns to the scheduler, which then
    # records it as sent: wait for that, rather than read it the instant the message lands.
    [sent] = tg.wait_for(
        lambda: [c for c in stack_store.schedule.scheduled_checkins(ref) if c.status == "sent"], 30
    )
    assert sent.prompt_set == "daily"
    # The patient controls it in conversation, mid check-in too.
    reply = say(tg, chat, "remind me in an hour", "I'll check in again")
    assert "I've kept what you answered" in reply
    assert [
        c.status for c in stack_store.schedule.scheduled_checkins(ref) if c.reason == "patient_postponed"
    ] == ["pending"]
    say(tg, chat, "not today", "no more check-ins today")
    assert {c.status for c in stack_store.schedule.scheduled_checkins(ref) if c.kind == "daily"} >= {
        "skipped"
    }
    say(tg, chat, "stop reminders", "paused all reminders")
    assert stack_store.patients.reminders_paused(ref)


def test_a_daily_checkin_arrives_in_the_open_widget(stack, stack_store, browser, enroll):
    zone = midday_zone()
    links = enroll(timezone=zone)
    stack_store.patients.record_consent(links["patient_id"], "test")
    page = browser.new_page()
    page.goto(links["web_chat_url"])
    wait_log(page, "Would you like to do a short check-in")
    soon = soon_in(zone)
    send(page, f"remind me every day at {soon}")
    wait_log(page, "I'll check in around")
    wait_log(page, "How is your mood today", timeout=150_000)
    page.screenshot(path=str(ARTIFACTS / "08-scheduled-checkin.png"))
    page.close()
