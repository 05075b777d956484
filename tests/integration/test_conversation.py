"""Real conversations through the running stack: Rasa + action server + web app + database.

Each test talks over HTTP to the `local` channel exactly as `interlude chat` does, then checks
what the database holds through the store API and in raw bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT

pytestmark = pytest.mark.integration

CANARY = "canary-91c2 the heron folded its grey umbrella"
RISK_TEXT = "honestly i keep thinking about ending my life"


def _db_bytes(stack) -> bytes:
    db = Path(stack.settings.database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_onboarding_then_a_checkin_is_stored_encrypted(stack, stack_store, new_patient):
    ref = new_patient()
    hello = stack.say(ref, "hi")
    assert "I'm not an emergency service" in hello
    assert "988" in hello and "not watched around the clock" in hello
    assert "How is your mood" in stack.say(ref, "check in")
    assert "how anxious" in stack.say(ref, "seven")
    assert "hours did you sleep" in stack.say(ref, "3/10")
    assert "Anything you'd like to note" in stack.say(ref, "about 7.5")
    assert "(mood 7/10, anxiety 3/10)" in stack.say(ref, CANARY)

    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [(a.prompt_key, a.text, a.value) for a in answers] == [
        ("mood", None, 7.0),
        ("anxiety", None, 3.0),
        ("sleep_hours", None, 7.5),
        ("note", CANARY, None),
    ]
    assert CANARY.encode() not in _db_bytes(stack)
    assert stack_store.patients.find_patient(ref).onboarded
    # Rasa's own events went to our encrypted tracker store (not a silent in-memory fallback).
    rows = _events(stack, ref)
    assert len(rows) > 10 and all(data.startswith("enc1:") for data in rows)


def _events(stack, sender: str) -> list[str]:
    import sqlite3

    db = stack.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT data FROM events WHERE sender_id = ?", (sender,))]


def test_second_greeting_does_not_repeat_onboarding(stack, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    again = stack.say(ref, "hello")
    assert "Welcome back" in again and "not an emergency service" not in again


def test_unparseable_mood_is_asked_again_with_a_hint(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    stack.say(ref, "check in")
    reply = stack.say(ref, "pretty good I think")
    assert "didn't catch a number" in reply and "How is your mood" in reply
    assert "how anxious" in stack.say(ref, "about a 5")
    # A journal line where a number is asked: a hint once, then it is kept as words.
    assert "number from 0 to 10" in stack.say(ref, "honestly the morning was rough")
    reply = stack.say(ref, "the morning was rough but the afternoon was better")
    assert "kept what you wrote" in reply and "hours did you sleep" in reply
    stack.say(ref, "skip")
    assert "mood 5/10" in stack.say(ref, "skip")
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [(a.prompt_key, a.text, a.value) for a in answers] == [
        ("mood", None, 5.0),
        ("anxiety", "the morning was rough but the afternoon was better", None),
        ("sleep_hours", None, None),
        ("note", None, None),
    ]


def test_pause_then_resume_where_we_left_off(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "6")
    assert "let's pause here" in stack.say(ref, "not now")
    assert stack_store.checkins.list_answers(ref, actor="test", origin="integration") == []
    resumed = stack.say(ref, "check in")
    assert "pick up where we left off" in resumed and "how anxious" in resumed
    assert "mood 6/10" in stack.say(ref, "2", "8", "a quiet day")


def test_stop_for_today_saves_what_was_answered(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "6", "3")
    assert "saved what you answered" in stack.say(ref, "stop for today")
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [(a.prompt_key, a.value) for a in answers] == [("mood", 6.0), ("anxiety", 3.0)]
    assert "How is your mood" in stack.say(ref, "check in")  # a fresh check-in, not a resume


def test_going_back_corrects_the_last_answer(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "3")
    reply = stack.say(ref, "oops")
    assert "go back one question" in reply and "How is your mood" in reply
    assert "mood 5/10" in stack.say(ref, "5", "2", "8", "better now")
    assert [a.value for a in stack_store.checkins.list_answers(ref, actor="t", origin="t")][:2] == [5.0, 2.0]


def test_a_note_that_mentions_stopping_is_an_answer(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "4", "4", "6")
    assert "mood 4/10" in stack.say(ref, "I want to stop feeling like this")
    notes = [
        a.text
        for a in stack_store.checkins.list_answers(ref, actor="t", origin="t")
        if a.prompt_key == "note"
    ]
    assert notes == ["I want to stop feeling like this"]


def test_risk_mid_form_gets_the_safety_path_first(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in")
    assert "how anxious" in stack.say(ref, "8")
    reply = stack.say(ref, RISK_TEXT)
    # Crisis resources and the safety question, and no ordinary check-in reply.
    assert "988" in reply and "Are you safe right now?" in reply
    assert "saved today's check-in" not in reply
    assert stack_store.flags.open_flag_severity(ref) == "high"
    flags = [
        f for f in stack_store.flags.list_flags(actor="test", origin="integration") if f.patient_ref == ref
    ]
    assert flags[0].signals[0]["text"] == RISK_TEXT
    assert flags[0].signals[0]["rules"][0]["rule"] == "suicide.active"
    # The risk text was not stored as a journal answer.
    assert stack_store.checkins.list_answers(ref, actor="test", origin="integration") == []

    assert "Thank you for letting me know" in stack.say(ref, "yes I'm safe")
    stack.say(ref, "I'd rather not say")  # the screener that follows (test_screener.py)
    assert "hold off on check-in questions" in stack.say(ref, "check in")


def test_risk_during_a_paused_checkin_gets_the_safety_path(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "check in", "5")
    assert "let's pause here" in stack.say(ref, "not now")  # paused, the mood answer kept
    reply = stack.say(ref, "i have the pills lined up, tonight is the night")
    assert "Please call 911 now" in reply and "Are you safe right now?" in reply
    assert stack_store.flags.open_flag_severity(ref) == "critical"
    assert "hold off on check-in questions" in stack.say(ref, "yes", "skip", "check in")


def test_a_risk_message_reaches_the_clinician_channels(stack, stack_store, new_patient, alert_peers):
    tg, smtp, hook = alert_peers
    ref = new_patient()
    stack.say(ref, "hi")
    sent_at = time.monotonic()
    stack.say(ref, "I want to kill myself")
    deadline = sent_at + 20
    mine = []
    while time.monotonic() < deadline and len(mine) < 3:
        mine = [m for m in tg.sent if ref in m["text"]]
        mine += [m for m in smtp.inbox.messages if ref in m.get_payload()]
        mine += [b for _, b in hook.requests if ref.encode() in b]
        time.sleep(0.1)
    assert len(mine) == 3, "an alert per configured channel"
    assert "kill myself" not in str(mine)  # minimum necessary: never the patient's words


def test_not_confirming_safety_escalates_to_critical(stack, stack_store, new_patient):
    ref = new_patient(locale="en-GB")
    stack.say(ref, "hi")
    reply = stack.say(ref, "kms")
    assert "116 123" in reply and "999" in reply  # the patient's own locale
    assert "Are you safe right now?" in reply
    assert "Please call 999 now" in stack.say(ref, "I don't know")
    assert stack_store.flags.open_flag_severity(ref) == "critical"


def test_moderate_risk_outside_a_form(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi")
    reply = stack.say(ref, "honestly everyone would be better off without me")
    assert "I've alerted your care team" in reply and "Are you safe" not in reply
    assert stack_store.flags.open_flag_severity(ref) == "moderate"


def _post(stack, body: object, token: str | None) -> int:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/local/webhook", data=data, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_channel_refuses_what_it_should(stack, new_patient):
    token = stack.settings.api_token
    ref = new_patient()
    assert _post(stack, {"sender": ref, "message": "hi"}, None) == 401
    assert _post(stack, {"sender": ref, "message": "hi"}, "wrong-token-123456") == 401
    assert _post(stack, {"sender": "pt_nobody", "message": "hi"}, token) == 404
    assert _post(stack, b"{not json", token) == 400
    assert _post(stack, {"sender": ref}, token) == 400
    assert _post(stack, {"sender": ref, "message": "x" * 100_001}, token) == 413
    assert _post(stack, {"sender": ref, "message": "hi"}, token) == 200


def test_rest_channel_and_api_are_not_open(stack):
    """Rasa's REST channel is absent, and its HTTP API needs the token."""
    for url in (f"{stack.settings.rasa_url}/webhooks/rest/webhook",):
        req = urllib.request.Request(url, data=b'{"sender":"x","message":"hi"}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stack.settings.rasa_url}/conversations/pt_demo/tracker", timeout=10)
    assert err.value.code == 401


def test_web_app_is_up(stack):
    with urllib.request.urlopen(f"{stack.settings.web_url}/healthz", timeout=10) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}


def test_a_second_run_on_the_same_data_is_refused(stack):
    res = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", "tests/config.test.yml"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2
    assert "already running" in res.stderr and "Traceback" not in res.stderr
