"""Patients on Telegram, polling mode: python-telegram-bot inside the running Rasa server talks
to a Telegram Bot API look-alike on loopback. Each test plays a patient's Telegram client by
queueing updates (messages, edits, photos, button presses) and reads what the bot sent."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from bot.store.db import transaction
from bot.store.models import ChannelIdentity, Patient, RasaEvent

pytestmark = pytest.mark.integration

_chats = itertools.count(7001)


def new_chat() -> int:
    return next(_chats)


def joined(patient_telegram, stack_store, enroll, **options: str) -> tuple[int, str]:
    """Enroll a patient, join on Telegram with the deep-link code, and agree to the terms."""
    links = enroll(**options)
    chat = new_chat()
    patient_telegram.send_user_message(chat, f"/start {links['enrollment_code']}")
    patient_telegram.wait_for_text(chat, "Do you agree")
    start = len(patient_telegram.texts_to(chat))
    patient_telegram.press_button(chat, "/affirm")
    patient_telegram.wait_for_text(chat, "check-in", start=start)
    return chat, links["patient_id"]


def say(tg, chat: int, text: str, expect: str, timeout: float = 60) -> str:
    """Send `text` from the patient's chat and wait for a reply containing `expect`."""
    start = len(tg.texts_to(chat))
    tg.send_user_message(chat, text)
    return "\n".join(tg.wait_for_text(chat, expect, start=start, timeout=timeout))


def test_enroll_prints_the_links_and_refuses_bad_input(stack, stack_store, enroll):
    links = enroll(timezone="Europe/London", locale="en-GB")
    assert set(links) >= {"patient_id", "enrollment_code", "telegram_link", "web_chat_url"}
    # The bot's username came from the Bot API (getMe): a real deep link.
    assert links["telegram_link"] == f"https://t.me/interlude_test_bot?start={links['enrollment_code']}"
    assert links["web_chat_url"].startswith(f"{stack.settings.web_url}/chat#token=")
    patient = stack_store.patients.find_patient(links["patient_id"])
    assert (patient.timezone, patient.locale) == ("Europe/London", "en-GB")

    def by_cli() -> int:
        # Only what the CLI wrote: the stack's workers audit escalations of other tests' flags
        # meanwhile, which have nothing to do with enrolment.
        return len([e for e in stack_store.core.audit_events() if e["origin"] == "cli"])

    with transaction(stack_store.core.factory) as s:
        before = s.query(Patient).count(), by_cli()
    for argv, message in [
        (("--timezone", "Mars/Olympus"), "Unknown time zone"),
        (("--locale", "english"), "should look like en-US"),
        (("--name", "   "), "name is empty"),
    ]:
        bad = stack.cli(
            "patient", "enroll", "--therapist", "therapist@demo.interlude.invalid", "--name", "X", *argv
        )
        assert bad.returncode == 2 and message in bad.stderr and bad.stdout == ""
    bad = stack.cli("patient", "enroll", "--therapist", "nobody@example.invalid", "--name", "X")
    assert bad.returncode == 2 and "No staff account" in bad.stderr
    with transaction(stack_store.core.factory) as s:
        assert (s.query(Patient).count(), by_cli()) == before  # nothing created


def test_enroll_onboarding_checkin_then_risk_gets_crisis_reply(stack, stack_store, patient_telegram, enroll):
    tg = patient_telegram
    links = enroll(locale="en-GB")
    chat = new_chat()
    tg.send_user_message(chat, f"/start {links['enrollment_code']}")
    texts = "\n".join(tg.wait_for_text(chat, "Do you agree"))
    assert "You're connected" in texts and "not an emergency service" in texts
    assert "116 123" in texts  # Samaritans: crisis numbers for the patient's locale
    consent = next(m for m in tg.sent if int(m["chat_id"]) == chat and "Do you agree" in m["text"])
    buttons = [b["text"] for row in consent["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["I agree", "Not now"]
    assert "parse_mode" not in consent  # plain text: nothing to escape, no markup injection
    assert any(m == "sendChatAction" for m, _ in tg.calls)  # typing indicator

    start = len(tg.texts_to(chat))
    tg.press_button(chat, "/affirm", message=consent["message"])
    tg.wait_for_text(chat, "check-in", start=start)
    assert any(m == "editMessageReplyMarkup" for m, _ in tg.calls)  # the used keyboard is removed
    ref = links["patient_id"]
    assert stack_store.patients.has_consented(ref)

    mood = say(tg, chat, "check in", "How is your mood")
    scale = next(m for m in tg.sent if int(m["chat_id"]) == chat and m["text"] in mood.split("\n"))
    assert [b["text"] for b in scale["reply_markup"]["inline_keyboard"][0]] == ["0", "1", "2", "3", "4", "5"]
    start = len(tg.texts_to(chat))
    tg.press_button(chat, "6")
    tg.wait_for_text(chat, "how anxious", start=start)
    say(tg, chat, "3", "hours did you sleep")
    say(tg, chat, "7", "Anything you'd like to note")
    say(tg, chat, "a quiet walk helped", "saved today's check-in")
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [(a.prompt_key, a.value) for a in answers][:3] == [
        ("mood", 6.0),
        ("anxiety", 3.0),
        ("sleep_hours", 7.0),
    ]

    reply = say(tg, chat, "i have pills saved up and i want to end it tonight", "Are you safe right now?")
    assert "116 123" in reply
    flags = [
        f for f in stack_store.flags.list_flags(actor="test", origin="integration") if f.patient_ref == ref
    ]
    assert flags and flags[0].severity == "critical"


def test_unknown_chat_is_refused_and_nothing_is_stored(stack, stack_store, patient_telegram):
    tg = patient_telegram
    chat = new_chat()
    assert "I don't know this chat yet" in say(tg, chat, "hello there", "know this chat")
    reply = say(tg, chat, "i want to kill myself", "988")
    assert "nobody will see this message" in reply
    say(tg, chat, "/help", "know this chat")
    say(tg, chat, "/start", "know this chat")
    assert stack_store.patients.patient_for_identity("telegram", str(chat)) is None
    with transaction(stack_store.core.factory) as s:
        assert s.query(RasaEvent).filter(RasaEvent.sender_id == str(chat)).count() == 0
        assert s.query(ChannelIdentity).filter(ChannelIdentity.external_id == str(chat)).count() == 0


def test_codes_are_one_time_and_expire(stack, stack_store, patient_telegram, enroll):
    tg = patient_telegram
    links = enroll()
    first, second = new_chat(), new_chat()
    tg.send_user_message(first, f"/start {links['enrollment_code']}")
    tg.wait_for_text(first, "You're connected")
    assert "already been used" in say(tg, second, f"/start {links['enrollment_code']}", "already been used")
    assert "don't recognise" in say(tg, second, "/start not-a-real-code", "recognise")
    expired = stack_store.patients.issue_enrollment_code(
        links["patient_id"], ttl=timedelta(seconds=-1), actor="test", origin="test"
    )
    assert "expired" in say(tg, second, f"/start {expired}", "expired")
    # Another patient's code cannot take over a chat that is already bound.
    other = enroll()
    assert "different person" in say(tg, first, f"/start {other['enrollment_code']}", "different person")
    assert stack_store.patients.patient_for_identity("telegram", str(first)).ref == links["patient_id"]
    assert stack_store.patients.patient_for_identity("telegram", str(second)) is None


def test_commands_media_edits_and_group_chats(stack, stack_store, patient_telegram, enroll):
    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    assert "/stop pauses all reminders" in say(tg, chat, "/help", "/stop")
    say(tg, chat, "/stop", "paused all reminders")
    assert stack_store.patients.reminders_paused(ref)
    say(tg, chat, "/start", "Reminders are on again")
    assert not stack_store.patients.reminders_paused(ref)

    start = len(tg.texts_to(chat))
    tg.send_user_message(
        chat, None, photo=[{"file_id": "p1", "file_unique_id": "u1", "width": 9, "height": 9}]
    )
    tg.wait_for_text(chat, "only read text", start=start)
    start = len(tg.texts_to(chat))
    tg.send_user_message(chat, None, voice={"file_id": "v1", "file_unique_id": "v1", "duration": 3})
    tg.wait_for_text(chat, "only read text", start=start)
    start = len(tg.texts_to(chat))
    tg.send_user_edit(chat, "actually it was fine")
    tg.wait_for_text(chat, "edited a message", start=start)

    # Typing Rasa's intent syntax does not trigger internal intents.
    reply = say(tg, chat, "/EXTERNAL_handoff_started", "")
    assert "has joined" not in reply

    # Risky words are never dropped: in a caption or an edit they take the safety path.
    start = len(tg.texts_to(chat))
    tg.send_user_message(
        chat,
        None,
        photo=[{"file_id": "p2", "file_unique_id": "u2", "width": 9, "height": 9}],
        caption="i want to kill myself",
    )
    tg.wait_for_text(chat, "988", start=start)
    start = len(tg.texts_to(chat))
    tg.send_user_edit(chat, "honestly everyone would be better off without me")
    tg.wait_for_text(chat, "988", start=start)
    assert any(f.patient_ref == ref for f in stack_store.flags.list_flags(actor="test", origin="integration"))

    group = -(new_chat())
    start = len(tg.texts_to(group))
    tg._queue(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": group, "type": "group", "title": "Friends"},
                "from": {"id": chat, "is_bot": False, "first_name": "Pat"},
                "text": "hi bot",
            }
        }
    )
    tg.wait_for_text(group, "private chats", start=start)


def test_bad_updates_long_and_rapid_messages_flood_control(stack, stack_store, patient_telegram, enroll):
    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    # Updates of kinds we do not handle, and a malformed one, do not stop the channel.
    tg._queue({"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0}})
    tg._queue({"my_chat_member": {"chat": {"id": chat, "type": "private"}}})
    say(tg, chat, "hello", "Welcome back")

    long_text = ("I walked for a long time and thought about the session. " * 200)[:10_000]
    say(tg, chat, "journal", "")
    start = len(tg.texts_to(chat))
    tg.send_user_message(chat, long_text)
    tg.wait_for(lambda: len(tg.texts_to(chat)) > start)

    # Rapid-fire: five messages at once are handled one by one, in order.
    for i in range(5):
        tg.send_user_message(chat, f"rapid message number {i}")

    def rapid() -> list[str]:
        transcript = stack_store.rights.export_patient(ref, actor="test", origin="test")["transcript"]
        return [e["text"] for e in transcript if (e.get("text") or "").startswith("rapid message number")]

    said = tg.wait_for(lambda: (lambda r: r if len(r) == 5 else None)(rapid()))
    assert said == [f"rapid message number {i}" for i in range(5)]

    # Flood control: the first attempt gets 429 retry_after=1; the reply still arrives, once.
    tg.wait_for(lambda: len(tg.texts_to(chat)) >= start + 5)  # the replies to the rapid five
    tg.flood_left = 1
    start = len(tg.texts_to(chat))
    tg.send_user_message(chat, "/help")
    texts = tg.wait_for_text(chat, "/stop pauses", start=start, timeout=30)
    tg.wait_for(lambda: tg.flood_left == 0)
    assert len(texts) == len(set(texts))
    calls = [p for m, p in tg.calls if m == "sendMessage" and int(p.get("chat_id", 0)) == chat]
    assert len(calls) == len(tg.texts_to(chat)) + 1  # exactly one refused attempt, then one send


def test_proactive_handoff_reaches_telegram_verbatim(stack, stack_store, patient_telegram, enroll):
    from bot.demo import DEMO_THERAPIST_EMAIL
    from bot.flags.handoff import HandoffService, RasaApi

    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    say(tg, chat, "honestly everyone would be better off without me", "988")
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    service = HandoffService(
        stack_store.handoffs, stack_store.staff, RasaApi(stack.settings.rasa_url, stack.settings.api_token)
    )
    start = len(tg.texts_to(chat))
    service.start(ref, staff, origin="test")
    tg.wait_for_text(chat, "has joined this conversation", start=start)
    tricky = "Take care <3 — *breathe* & <b>rest</b> [link](x) _now_"
    service.say(ref, staff, tricky, origin="test")
    relayed = tg.wait_for_text(chat, "breathe", start=start)
    assert f"Dr. Demo Therapist: {tricky}" in relayed
    sent = next(m for m in tg.sent if m.get("text") == f"Dr. Demo Therapist: {tricky}")
    assert "parse_mode" not in sent
    service.end(ref, staff, origin="test")
    tg.wait_for_text(chat, "handed the conversation back", start=start)


def test_a_due_checkin_arrives_in_the_patients_telegram_chat(stack, stack_store, patient_telegram, enroll):
    """What the scheduler will do: trigger the check-in through Rasa's API, output to the
    patient's latest channel. The first question arrives in Telegram with its buttons."""
    from bot.flags.handoff import RasaApi

    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    start = len(tg.texts_to(chat))
    RasaApi(stack.settings.rasa_url, stack.settings.api_token).trigger_intent(
        ref, "EXTERNAL_checkin_due", {"prompt_set": "day1"}
    )
    texts = tg.wait_for_text(chat, "mood", start=start)
    assert texts
    say(tg, chat, "5", "sleep")


def test_risky_words_are_never_answered_by_a_command_or_refusal_alone(
    stack, stack_store, patient_telegram, enroll
):
    """Commands, group chats and flood limits are answered by the channel itself: risky words
    there must still get crisis numbers (and, from a patient, the safety path and a flag)."""
    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    reply = say(tg, chat, "/start i want to kill myself", "Are you safe right now?")
    assert "988" in reply and "recognise that code" not in reply
    assert any(f.patient_ref == ref for f in stack_store.flags.list_flags(actor="test", origin="integration"))
    stranger = new_chat()
    assert "nobody will see this message" in say(tg, stranger, "/help i want to kill myself", "988")
    group = -new_chat()
    start = len(tg.texts_to(group))
    tg._queue(
        {
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": group, "type": "group", "title": "Friends"},
                "from": {"id": stranger, "is_bot": False, "first_name": "Pat"},
                "text": "i want to kill myself",
            }
        }
    )
    tg.wait_for_text(group, "988", start=start)


def _press(tg, chat: int, payload: str, expect: str) -> str:
    start = len(tg.texts_to(chat))
    tg.press_button(chat, payload)
    return "\n".join(tg.wait_for_text(chat, expect, start=start))


def test_the_screener_on_telegram_buttons_and_typed_answers(
    stack, stack_store, patient_telegram, enroll, alert_peers
):
    """A full screener run (method: high), then ideation and a plan two turns later: one
    critical flag, re-alerted, both messages linked (tests/integration/test_screener.py has more)."""
    tg = patient_telegram
    chat, ref = joined(tg, stack_store, enroll)
    say(tg, chat, "I keep wishing I was dead", "wished you were dead")
    question = next(
        m for m in reversed(tg.sent) if int(m["chat_id"]) == chat and "wished you were dead" in m["text"]
    )
    buttons = [b["text"] for row in question["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Yes", "No", "I'd rather not say"]
    _press(tg, chat, "No", "thoughts of killing yourself")
    _press(tg, chat, "Yes", "how you might do this")
    say(tg, chat, "yeah.", "intention of acting")
    _press(tg, chat, "No", "details of how")
    say(tg, chat, "nope", "Have you ever done anything")
    say(tg, chat, "no", "Thank you for answering these")
    assert stack_store.flags.open_flag_severity(ref) == "high"
    flag = next(f for f in stack_store.flags.list_flags(actor="t", origin="t") if f.patient_ref == ref)
    assert [r["result"] for r in stack_store.screeners.screeners_for_flag(flag.id)] == ["high"]
    # Within 24 h and no higher signal: the crisis reply (alerts configured) without the screener.
    again = say(tg, chat, "honestly everyone would be better off without me", "alerted your care team")
    assert "wished you were dead" not in again and "numbers below" not in again

    chat2, ref2 = joined(tg, stack_store, enroll)
    say(tg, chat2, "I keep wishing I was dead", "wished you were dead")
    say(tg, chat2, "I'd rather not say", "you don't have to answer")
    say(tg, chat2, "I've decided to do it on friday", "Are you safe right now?")
    (flag2,) = [f for f in stack_store.flags.list_flags(actor="t", origin="t") if f.patient_ref == ref2]
    assert flag2.severity == "critical"
    detail = stack_store.portal.flag_detail(
        stack_store.staff.staff_id_by_email("therapist@demo.interlude.invalid"), flag2.id
    )
    assert detail.signals[1]["built_on"] == detail.signals[0]["message_id"] is not None
    assert [s["status"] for s in detail.screeners] == ["declined", "in_progress"]  # asked again: higher
    alerts, _, _ = alert_peers  # the staff alert bot: re-alerted at critical
    alerts.wait_for(
        lambda: [m for m in alerts.sent if ref2 in m["text"] and "critical" in m["text"].lower()], 60
    )


def test_telegram_words_follow_the_configuration_and_the_screener_waits_for_a_handoff(
    stack, stack_store, patient_telegram, enroll, quiet_patient
):
    """Issue #15's last two on Telegram: the consent and crisis words under both alert
    configurations (the demo clinic has alert channels, the quiet clinic none), and never the
    screener during a clinician handoff (test_screener.py has the same on the local channel)."""
    from bot.demo import DEMO_THERAPIST_EMAIL
    from bot.flags.handoff import HandoffService, RasaApi
    from tests.integration.test_screener import PROMISES, runs_of

    tg = patient_telegram
    quiet = quiet_patient(consented=False)
    code = stack_store.patients.issue_enrollment_code(
        quiet, ttl=timedelta(days=1), actor="test", origin="test"
    )
    chat = new_chat()
    tg.send_user_message(chat, f"/start {code}")
    consent = "\n".join(tg.wait_for_text(chat, "Do you agree"))
    assert "in their portal during clinic hours" in consent and "alert your care team" not in consent
    start = len(tg.texts_to(chat))
    tg.press_button(chat, "/affirm")
    tg.wait_for_text(chat, "check-in", start=start)
    crisis = say(tg, chat, "I keep thinking about ending my life", "Are you safe right now?")
    assert "Your care team will see this in their portal during clinic hours" in crisis and "988" in crisis
    not_safe = say(tg, chat, "no", "Thank you for being honest")
    assert "marked this as urgent for your care team, who will see it in their portal" in not_safe
    for text in (consent, crisis, not_safe):
        assert not [p for p in PROMISES if p in text.replace("nobody is alerted", "")], text

    chat, ref = joined(tg, stack_store, enroll)
    assert "I've alerted your care team" in say(tg, chat, "I keep wishing I was dead", "wished you were dead")
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    service = HandoffService(
        stack_store.handoffs, stack_store.staff, RasaApi(stack.settings.rasa_url, stack.settings.api_token)
    )
    start = len(tg.texts_to(chat))
    service.start(ref, staff, origin="test")
    tg.wait_for_text(chat, "has joined this conversation", start=start)
    tg.send_user_message(chat, "yes")  # would answer the screener; during the handoff it is not read
    say(tg, chat, "I have the pills and I've decided to do it", "Are you safe right now?")
    say(tg, chat, "yes, I'm safe", "Thank you for letting me know")
    service.end(ref, staff, origin="test")
    during = "\n".join(tg.wait_for_text(chat, "handed the conversation back", start=start))
    assert "Please call" in during and "Thank you for letting me know" in during
    assert "thoughts of killing yourself" not in during and "wished you were dead" not in during
    assert [r["status"] for r in runs_of(stack_store, ref)] == ["handoff"]  # stopped, not asked again
