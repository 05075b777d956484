"""Telegram in webhook mode, on a stack of its own: Interlude registers its webhook with the
Bot API look-alike, and the test plays Telegram by POSTing updates to Interlude's public web
app (which forwards them to Rasa on loopback). Every call must carry the secret token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bot.demo import DEMO_THERAPIST_EMAIL
from tests.integration.stack import Stack, start_stack
from tests.peers.telegram_api import FakeTelegram

pytestmark = pytest.mark.integration

TOKEN = "777777:WEBHOOK-TOKEN"
SECRET = "hook-secret_0123456789-abcdef"


@pytest.fixture(scope="module")
def hooked(tmp_path_factory) -> tuple[Stack, FakeTelegram]:
    root = tmp_path_factory.mktemp("webhook")
    (root / "data").mkdir()
    with FakeTelegram(token=TOKEN, username="interlude_hook_bot") as tg:
        stack = start_stack(
            root / "data",
            root / "console.log",
            INTERLUDE_TELEGRAM_TOKEN=TOKEN,
            INTERLUDE_TELEGRAM_API_URL=tg.api_url,
            INTERLUDE_TELEGRAM_MODE="webhook",
            INTERLUDE_TELEGRAM_WEBHOOK_SECRET=SECRET,
        )
        try:
            tg.wait_for(lambda: tg.webhook, timeout=60)
            yield stack, tg
        finally:
            assert stack.stop() == 0


def post(stack: Stack, body: bytes, secret: str | None = SECRET) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    req = urllib.request.Request(
        stack.settings.web_url + "/telegram/webhook", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def update(tg: FakeTelegram, chat: int, text: str, update_id: int) -> bytes:
    return json.dumps({"update_id": update_id, **tg.user_message(chat, text)}).encode()


def test_webhook_is_registered_with_the_secret_and_nothing_polls(hooked):
    stack, tg = hooked
    assert tg.webhook["url"] == f"{stack.settings.web_url}/telegram/webhook"
    assert tg.webhook["secret_token"] == SECRET
    assert set(tg.webhook["allowed_updates"]) == {"message", "edited_message", "callback_query"}
    assert not [m for m, _ in tg.calls if m == "getUpdates"]


def test_forged_or_unsigned_calls_get_403_and_are_ignored(hooked):
    stack, tg = hooked
    chat = 9101
    body = update(tg, chat, "/help", 50)
    assert post(stack, body, secret=None)[0] == 403
    assert post(stack, body, secret="not-the-secret")[0] == 403
    assert post(stack, b"{not json", secret=SECRET)[0] == 400
    assert post(stack, b"[1, 2, 3]", secret=SECRET)[0] == 400
    assert post(stack, json.dumps({"update_id": "x"}).encode(), secret=SECRET)[0] == 400
    assert tg.texts_to(chat) == []  # the refused calls made the bot say nothing


def test_webhook_journey_enroll_consent_risk_once_per_update(hooked):
    stack, tg = hooked
    result = stack.cli("patient", "enroll", "--therapist", DEMO_THERAPIST_EMAIL, "--name", "Hook Patient")
    assert result.returncode == 0, result.stderr
    links = json.loads(result.stdout)
    assert links["telegram_link"] == f"https://t.me/interlude_hook_bot?start={links['enrollment_code']}"
    chat = 9102
    start_update = update(tg, chat, f"/start {links['enrollment_code']}", 100)
    assert post(stack, start_update) == (200, {"ok": True})
    assert post(stack, start_update)[0] == 200  # Telegram redelivers: handled once
    tg.wait_for_text(chat, "Do you agree")
    texts = tg.texts_to(chat)
    assert sum("You're connected" in t for t in texts) == 1
    assert not any("already been used" in t for t in texts)

    n = len(texts)
    press = {"update_id": 101, "callback_query": tg.press_button(chat, "/affirm")["callback_query"]}
    assert post(stack, json.dumps(press).encode())[0] == 200
    tg.wait_for_text(chat, "Would you like to do a short check-in", start=n)

    n = len(tg.texts_to(chat))
    assert post(stack, update(tg, chat, "check in", 102))[0] == 200
    tg.wait_for_text(chat, "How is your mood", start=n)
    n = len(tg.texts_to(chat))
    assert post(stack, update(tg, chat, "7", 103))[0] == 200
    tg.wait_for_text(chat, "how anxious", start=n)

    n = len(tg.texts_to(chat))
    assert post(stack, update(tg, chat, "i'm going to end it tonight", 104))[0] == 200
    reply = "\n".join(tg.wait_for_text(chat, "Are you safe right now?", start=n))
    assert "988" in reply
