"""Patients in the web chat widget: headless Chromium (Debian's, driven by Playwright) opens
the personal link served by the running stack, and python-socketio's client probes the
channel directly for what a browser would not try (another patient's session id, bad tokens).

Screenshots go to test-artifacts/webchat/ for a person to look at."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import socketio

from bot.config import PROJECT_ROOT
from bot.demo import DEMO_THERAPIST_EMAIL
from bot.flags.handoff import HandoffService, RasaApi

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "webchat"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def token_of(url: str) -> str:
    return url.split("#token=", 1)[1]


def wait_log(page, text: str, timeout: float = 60_000) -> None:
    page.locator(".il-log").get_by_text(text, exact=False).last.wait_for(timeout=timeout)


def send(page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def test_widget_journey_onboarding_checkin_risk_and_history(stack, stack_store, browser, enroll):
    links = enroll()
    ref = links["patient_id"]
    page = browser.new_page(viewport={"width": 420, "height": 860})  # a phone-sized screen
    page.goto(links["web_chat_url"])
    wait_log(page, "Do you agree")
    assert "988" in page.locator(".il-log").inner_text()
    page.screenshot(path=str(ARTIFACTS / "01-onboarding.png"))

    page.get_by_role("button", name="I agree").click()
    wait_log(page, "Would you like to do a short check-in")
    assert stack_store.patients.has_consented(ref)
    send(page, "check in")
    wait_log(page, "How is your mood")
    page.get_by_role("group", name="Suggested replies").get_by_role("button", name="6", exact=True).click()
    wait_log(page, "how anxious")
    send(page, "3")
    wait_log(page, "hours did you sleep")
    send(page, "7")
    wait_log(page, "Anything you'd like to note")
    send(page, "a calm evening with tea")
    wait_log(page, "saved today's check-in")
    page.screenshot(path=str(ARTIFACTS / "02-checkin.png"))
    answers = stack_store.checkins.list_answers(ref, actor="test", origin="integration")
    assert [(a.prompt_key, a.value, a.text) for a in answers] == [
        ("mood", 6.0, None),
        ("anxiety", 3.0, None),
        ("sleep_hours", 7.0, None),
        ("note", None, "a calm evening with tea"),
    ]

    send(page, "i want to kill myself")
    wait_log(page, "Are you safe right now?")
    log = page.locator(".il-log").inner_text()
    assert "988" in log and "alerted your care team" in log
    page.screenshot(path=str(ARTIFACTS / "03-crisis.png"))
    assert any(f.patient_ref == ref for f in stack_store.flags.list_flags(actor="test", origin="integration"))

    # A reload (or a dropped connection) keeps the conversation: the server sends it again.
    page.reload()
    wait_log(page, "a calm evening with tea")
    log = page.locator(".il-log").inner_text()
    assert log.count("a calm evening with tea") == 1 and "Are you safe right now?" in log
    assert "/affirm" not in log and "/greet" not in log  # button payloads show as their titles
    assert page.get_by_role("button", name="Yes, I'm safe right now").is_visible()  # last question's buttons
    page.screenshot(path=str(ARTIFACTS / "04-reloaded.png"))
    page.close()


def test_widget_is_accessible_by_keyboard_and_to_axe(stack, browser, enroll):
    links = enroll()
    context = browser.new_context(bypass_csp=True)  # only so the test can inject axe-core
    page = context.new_page()
    page.goto(links["web_chat_url"])
    wait_log(page, "Do you agree")
    # Keyboard only: Tab to a button, press it; type and send with Enter.
    page.get_by_role("button", name="I agree").focus()
    page.keyboard.press("Enter")
    wait_log(page, "Would you like to do a short check-in")
    page.get_by_label("Your message").focus()
    page.keyboard.type("help")
    page.keyboard.press("Enter")
    wait_log(page, "I can take you through a short check-in")
    assert page.get_by_role("log", name="Conversation").count() == 1
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
    )
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
    page.screenshot(path=str(ARTIFACTS / "05-keyboard.png"))
    context.close()


def test_widget_shows_when_a_clinician_joins(stack, stack_store, browser, enroll):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    page = browser.new_page()
    page.goto(links["web_chat_url"])
    wait_log(page, "Would you like to do a short check-in")
    send(page, "honestly everyone would be better off without me")
    wait_log(page, "alerted your care team")  # the flag is written before this reply
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    service = HandoffService(
        stack_store.handoffs, stack_store.staff, RasaApi(stack.settings.rasa_url, stack.settings.api_token)
    )
    service.start(ref, staff, origin="test")
    notice = page.locator(".il-notice")
    notice.wait_for(state="visible", timeout=30_000)
    assert "clinician from your care team has joined" in notice.inner_text()
    service.say(ref, staff, "Hi, it's Dr. Demo. I'm here with you.", origin="test")
    page.locator(".il-msg-clinician").get_by_text("I'm here with you").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "06-clinician-joined.png"))
    service.end(ref, staff, origin="test")
    notice.wait_for(state="hidden", timeout=30_000)
    page.close()


def test_the_personal_link_without_a_token_explains_itself(stack, browser):
    page = browser.new_page()
    page.goto(f"{stack.settings.web_url}/chat")
    page.get_by_text("Please open the personal chat link").wait_for(timeout=15_000)
    page.close()
    page = browser.new_page()  # a new page: changing only the #fragment would not reload
    page.goto(f"{stack.settings.web_url}/chat#token=not-a-real-token")
    page.get_by_text("This chat link isn't valid").wait_for(timeout=15_000)
    assert page.get_by_role("button", name="Send").is_disabled()
    page.close()


# ---------------------------------------------------------------------------- the socket itself
class Probe:
    """A socket.io client (python-socketio, long-polling like the widget) for one token."""

    def __init__(self, stack, token: str | None, clinic: str = "") -> None:
        self.bot: list[dict] = []
        self.errors: list[dict] = []
        self.confirmed: list[str] = []
        self.refused: dict | None = None
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("bot_uttered", self.bot.append)
        self.sio.on("chat_error", self.errors.append)
        self.sio.on("session_confirm", self.confirmed.append)
        self.sio.on("connect_error", lambda data: setattr(self, "refused", data))
        auth = {"clinic": clinic, **({"token": token} if token is not None else {})}
        # wait=False and our own wait: python-socketio's wait keeps waiting out the whole timeout
        # after a refusal (20 s per refused probe), the refusal itself arrives at once.
        try:
            self.sio.connect(stack.settings.web_url, transports=["polling"], auth=auth, wait=False)
        except socketio.exceptions.ConnectionError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.connected and self.refused is None:
            time.sleep(0.05)
        if not self.connected:  # refused or timed out: do not leave engine.io polling
            self.sio.disconnect()

    @property
    def connected(self) -> bool:
        return self.sio.connected and "/" in self.sio.namespaces

    def say(self, text: object, wait: float = 60.0, **extra: object) -> list[dict]:
        n = len(self.bot)
        self.sio.emit("user_uttered", {"message": text, **extra})
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(self.bot) == n and not self.errors:
            time.sleep(0.1)
        time.sleep(0.5)  # let the rest of a multi-message reply arrive
        return self.bot[n:]

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def test_a_token_cannot_reach_another_patients_conversation(stack, stack_store, enroll):
    a, b = enroll(), enroll()
    probe_a = Probe(stack, token_of(a["web_chat_url"]))
    probe_b = Probe(stack, token_of(b["web_chat_url"]))
    assert probe_a.connected and probe_b.connected
    # A asks for B's session and tries to mark its message as external: both ignored.
    probe_a.sio.emit("session_request", {"session_id": b["patient_id"]})
    time.sleep(1)
    assert probe_a.confirmed == [a["patient_id"]]
    replies = probe_a.say(
        "/greet", session_id=b["patient_id"], sender=b["patient_id"], metadata={"is_external": True}
    )
    assert replies
    probe_a.say("canary-7f3e a letter only A writes", session_id=b["patient_id"])

    def said(ref: str) -> list[str]:
        return [
            m["text"]
            for m in stack_store.rights.export_patient(ref, actor="test", origin="test")["transcript"]
        ]

    assert "canary-7f3e a letter only A writes" in said(a["patient_id"])
    assert not any("canary-7f3e" in (t or "") for t in said(b["patient_id"]))
    assert probe_b.bot == []  # B's socket heard nothing of A's conversation
    probe_a.close()
    probe_b.close()


def test_bad_tokens_are_refused_with_a_reason(stack, stack_store, enroll):
    assert Probe(stack, None).refused["data"]["reason"] == "missing"
    assert Probe(stack, "forged-token").refused["data"]["reason"] == "unknown"

    links = enroll()
    ref = links["patient_id"]
    expired = stack_store.patients.issue_web_token(
        ref, ttl=timedelta(seconds=-1), actor="test", origin="test"
    )
    assert Probe(stack, expired).refused["data"]["reason"] == "expired"
    assert Probe(stack, token_of(links["web_chat_url"])).refused["data"]["reason"] == "revoked"  # replaced

    # A token for another clinic's patient, used on a page built for the demo clinic.
    clinic = stack_store.staff.ensure_clinic("other", "Other Clinic")
    staff, _ = stack_store.staff.ensure_staff(clinic, "t@other.invalid", "Dr Other", "therapist", None)
    other = stack_store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="O")
    token = stack_store.patients.issue_web_token(
        other.ref, ttl=timedelta(days=1), actor="test", origin="test"
    )
    refused = Probe(stack, token, clinic="demo").refused
    assert refused["data"]["reason"] == "wrong_clinic"
    assert "another clinic" in refused["message"]
    assert Probe(stack, token, clinic="other").connected


def test_a_withdrawn_link_stops_an_open_chat(stack, stack_store, enroll):
    links = enroll()
    probe = Probe(stack, token_of(links["web_chat_url"]))
    assert probe.say("hello")
    result = stack.cli("patient", "revoke-web", links["patient_id"])
    assert result.returncode == 0 and "Withdrew 1" in result.stdout
    # The channel notices within seconds, without waiting for the patient to write again
    # (tests/integration/test_webchat_withdrawn.py covers the other ways a link ends).
    deadline = time.monotonic() + 20
    while probe.connected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not probe.connected
    assert probe.errors and probe.errors[-1]["reason"] == "revoked"


def test_a_withdrawn_link_still_answers_risky_words_with_crisis_numbers(stack, stack_store, enroll):
    links = enroll()
    probe = Probe(stack, token_of(links["web_chat_url"]))
    assert probe.say("hello")
    # Withdrawn in-process and written at once: the message arrives before the channel's
    # sweep (every 2 s) closes the socket, so it meets the check made when a message arrives.
    assert (
        stack_store.patients.revoke_web_tokens(links["patient_id"], actor="test", origin="integration") == 1
    )
    replies = probe.say("i want to kill myself tonight", wait=10)
    assert probe.errors and probe.errors[-1]["reason"] == "revoked"
    texts = " ".join(r.get("text") or "" for r in replies)
    assert "988" in texts and "nobody will see this message" in texts
    # Unbound: no flag can name a patient, so none is written.
    flags = stack_store.flags.list_flags(actor="test", origin="integration")
    assert [f for f in flags if f.patient_ref == links["patient_id"]] == []


def test_bad_input_long_empty_and_rapid_messages(stack, stack_store, enroll):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    probe = Probe(stack, token_of(links["web_chat_url"]))
    probe.say("hello")
    probe.say("x" * 20_001, wait=10)
    assert probe.errors[-1]["reason"] == "too_long" and "20,000" in probe.errors[-1]["message"]
    probe.errors.clear()
    probe.say({"not": "text"}, wait=10)
    assert probe.errors[-1]["reason"] == "not_text"
    probe.errors.clear()
    long_entry = ("Today the colours came back and I noticed the light on the wall. " * 160)[:10_000]
    assert probe.say(long_entry)  # 10,000 characters: answered, not refused
    assert probe.errors == []

    probe.close()


def test_rapid_fire_is_handled_in_order_then_slowed(stack, stack_store, enroll):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    probe = Probe(stack, token_of(links["web_chat_url"]))
    # Sixteen at once: fifteen (the limit per ten seconds) are handled in order, one refused.
    for i in range(16):
        probe.sio.emit("user_uttered", {"message": f"quick note {i:02d}"})

    def notes() -> list[str]:
        transcript = stack_store.rights.export_patient(ref, actor="test", origin="test")["transcript"]
        return [m["text"] for m in transcript if (m.get("text") or "").startswith("quick note")]

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(notes()) < 15:
        time.sleep(0.5)
    assert notes() == [f"quick note {i:02d}" for i in range(15)]
    assert [e["reason"] for e in probe.errors] == ["too_fast"]
    probe.close()


def test_widget_assets_are_served_without_a_cdn(stack):
    import urllib.request

    for path, kind in [
        ("/widget/interlude-widget.js", "javascript"),
        ("/widget/interlude-widget.css", "css"),
        ("/widget/vendor/socket.io.min.js", "javascript"),
    ]:
        with urllib.request.urlopen(stack.settings.web_url + path, timeout=10) as resp:
            assert kind in resp.headers["content-type"]
    with urllib.request.urlopen(stack.settings.web_url + "/chat", timeout=10) as resp:
        page = resp.read().decode()
        assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert "http" not in page.split("<body", 1)[1]  # nothing loaded from elsewhere


def test_a_due_checkin_arrives_in_the_open_widget(stack, stack_store, browser, enroll):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    page = browser.new_page()
    page.goto(links["web_chat_url"])
    wait_log(page, "Would you like to do a short check-in")
    RasaApi(stack.settings.rasa_url, stack.settings.api_token).trigger_intent(
        ref, "EXTERNAL_checkin_due", {"prompt_set": "daily"}
    )
    wait_log(page, "How is your mood today")
    assert page.get_by_role("button", name="10", exact=True).is_visible()
    page.screenshot(path=str(ARTIFACTS / "07-proactive-checkin.png"))
    page.close()


def test_limits_never_drop_risky_words(stack, stack_store, enroll):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    probe = Probe(stack, token_of(links["web_chat_url"]))
    # Over the flood limit, a risky message still takes the safety path.
    for i in range(15):
        probe.sio.emit("user_uttered", {"message": f"filler {i:02d}"})
    probe.sio.emit("user_uttered", {"message": "i want to kill myself"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any("Are you safe right now?" in m["text"] for m in probe.bot):
        time.sleep(0.5)
    assert any("Are you safe right now?" in m["text"] for m in probe.bot)
    assert not any(e["reason"] == "too_fast" for e in probe.errors)  # the risky one was not refused
    probe.close()
    # Too long to keep as an entry, but risky: the safety path, with head and tail kept on the flag.
    other = enroll()
    stack_store.patients.record_consent(other["patient_id"], "test")
    probe = Probe(stack, token_of(other["web_chat_url"]))
    long_risky = "It was a long day. " * 1100 + "I have pills saved up and I'm going to end it tonight."
    assert len(long_risky) > 20_000
    # The first patient's 15 queued messages may still be in Rasa on a loaded machine.
    replies = probe.say(long_risky, wait=180)
    assert any("988" in m["text"] for m in replies) and probe.errors == []
    flag = next(
        f
        for f in stack_store.flags.list_flags(actor="test", origin="t")
        if f.patient_ref == other["patient_id"]
    )
    assert flag.severity == "critical" and "end it tonight" in flag.signals[0]["text"]
    probe.close()


def test_the_screener_in_the_web_chat(stack, stack_store, enroll):
    """Over socket.io: a full screener run (recent behaviour: critical) with quick replies and
    typed answers; then ideation and a plan two turns later on another patient."""
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    probe = Probe(stack, token_of(links["web_chat_url"]))

    def said(text: str) -> str:
        return "\n".join(m.get("text", "") for m in probe.say(text))

    try:
        replies = probe.say("I keep wishing I was dead")
        question = next(m for m in replies if "wished you were dead" in m.get("text", ""))
        assert [q["title"] for q in question["quick_replies"]] == ["Yes", "No", "I'd rather not say"]
        assert "thoughts of killing yourself" in said("No")
        assert "Have you ever done anything" in said("no")
        assert "within the past 3 months" in said("Yes")
        assert "Thank you for answering these" in said("yep")
        assert stack_store.flags.open_flag_severity(ref) == "critical"
        # Within 24 h and no higher signal: the crisis reply (alerts configured) without the screener.
        again = said("honestly everyone would be better off without me")
        assert "I've alerted your care team" in again and "wished you were dead" not in again
    finally:
        probe.close()

    other = enroll()
    stack_store.patients.record_consent(other["patient_id"], "test")
    probe = Probe(stack, token_of(other["web_chat_url"]))
    try:
        assert "wished you were dead" in said("I keep wishing I was dead")
        assert "you don't have to answer" in said("I'd rather not say")
        assert "Please call 911 now" in said("I've worked out when and where")
    finally:
        probe.close()
    (flag,) = [
        f for f in stack_store.flags.list_flags(actor="t", origin="t") if f.patient_ref == other["patient_id"]
    ]
    assert flag.severity == "critical" and flag.message_count == 2
    detail = stack_store.portal.flag_detail(
        stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL), flag.id
    )
    assert detail.signals[1]["built_on"] == detail.signals[0]["message_id"] is not None
    from tests.integration.test_screener import deliveries

    assert {sev for sev, _ in deliveries(stack_store, flag.id)} == {"moderate", "critical"}  # re-alerted


def _until(probe: Probe, needle: str, start: int, timeout: float = 60) -> str:
    """The bot's messages since `start`, joined, once one of them contains `needle`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(needle in m.get("text", "") for m in probe.bot[start:]):
        time.sleep(0.1)
    return "\n".join(m.get("text", "") for m in probe.bot[start:])


def test_web_chat_words_follow_the_configuration_and_the_screener_waits_for_a_handoff(
    stack, stack_store, enroll, quiet_patient
):
    """Over socket.io, issue #15's last two: the crisis words under both alert configurations
    (the demo clinic has alert channels, the quiet clinic none), and never the screener during a
    clinician handoff (tests/integration/test_screener.py has the same on the local channel)."""
    from tests.integration.test_screener import PROMISES, runs_of

    quiet = quiet_patient()
    token = stack_store.patients.issue_web_token(quiet, ttl=timedelta(days=1), actor="test", origin="test")
    probe = Probe(stack, token)
    try:
        probe.sio.emit("user_uttered", {"message": "I keep thinking about ending my life"})
        crisis = _until(probe, "Are you safe right now?", 0)
        assert "Your care team will see this in their portal during clinic hours" in crisis
        assert "988" in crisis and not [p for p in PROMISES if p in crisis]
        start = len(probe.bot)
        probe.sio.emit("user_uttered", {"message": "no"})
        not_safe = _until(probe, "Thank you for being honest", start)
        assert "marked this as urgent for your care team, who will see it in their portal" in not_safe
        assert not [p for p in PROMISES if p in not_safe]
    finally:
        probe.close()

    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    service = HandoffService(
        stack_store.handoffs, stack_store.staff, RasaApi(stack.settings.rasa_url, stack.settings.api_token)
    )
    probe = Probe(stack, token_of(links["web_chat_url"]))
    try:
        probe.sio.emit("user_uttered", {"message": "I keep wishing I was dead"})
        first = _until(probe, "wished you were dead", 0)
        assert "I've alerted your care team" in first
        start = len(probe.bot)
        service.start(ref, staff, origin="test")
        # This "yes" would answer the screener's question; during the handoff it is not read.
        probe.sio.emit("user_uttered", {"message": "yes"})
        probe.sio.emit("user_uttered", {"message": "I have the pills and I've decided to do it"})
        _until(probe, "Are you safe right now?", start)
        probe.sio.emit("user_uttered", {"message": "yes, I'm safe"})
        _until(probe, "Thank you for letting me know", start)
        service.end(ref, staff, origin="test")
        during = _until(probe, "handed the conversation back", start)
        assert "has joined this conversation" in during and "Please call 911 now" in during
        assert "Thank you for letting me know" in during and "handed the conversation back" in during
        assert "thoughts of killing yourself" not in during and "wished you were dead" not in during
    finally:
        probe.close()
    assert [r["status"] for r in runs_of(stack_store, ref)] == ["handoff"]  # stopped, not asked again
