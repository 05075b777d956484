"""PostgreSQL made unreachable for a running stack (ALLOW_CONNECTIONS false + its connections
terminated), with a risk message at that moment in each channel (local, web chat, Telegram):
crisis resources at once, the flag kept, and exactly one flag per message once the database is
back. Ordinary messages get an honest "try again", never a 500 or silence."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import socketio

from bot.demo import DEMO_THERAPIST_EMAIL
from bot.runtime import Store
from tests.conftest import _pg_admin
from tests.integration.stack import start_stack
from tests.peers.telegram_api import FakeTelegram
from tests.reliability.conftest import say

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CRISIS_MARK = "988"
HONEST = "care team may not have been told"
RISKY = "I want to kill myself tonight"
TOKEN = "654321:OUTAGE-TOKEN"


def _connections(db_name: str, allowed: bool) -> None:
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,)
            )
    admin.close()


def _enroll(stack, name: str) -> dict:
    result = stack.cli("patient", "enroll", "--therapist", DEMO_THERAPIST_EMAIL, "--name", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_risk_message_during_a_postgres_outage_is_answered_and_flagged_once(tmp_path, postgres_url):
    with FakeTelegram(token=TOKEN, username="interlude_outage_bot") as tg:
        stack = start_stack(
            tmp_path / "data",
            tmp_path / "console.log",
            INTERLUDE_DATABASE_URL=postgres_url,
            INTERLUDE_TELEGRAM_API_URL=tg.api_url,
            INTERLUDE_TELEGRAM_TOKEN=TOKEN,
        )
        db_name = postgres_url.rsplit("/", 1)[1]
        store = Store.open(postgres_url, stack.settings.data_dir, environ={})
        sio = socketio.Client(reconnection=False)
        try:
            local, web, tele = (_enroll(stack, n)["patient_id"] for n in ("Local", "Web", "Tele"))
            for ref in (local, web, tele):
                store.patients.record_consent(ref, "test")
            say(stack, local, "hello")
            token = store.patients.issue_web_token(web, ttl=timedelta(days=1), actor="test", origin="test")
            bot: list[dict] = []
            errors: list[dict] = []
            sio.on("bot_uttered", bot.append)
            sio.on("chat_error", errors.append)
            sio.connect(
                stack.settings.web_url, transports=["polling"], auth={"token": token}, wait_timeout=30
            )
            code = store.patients.issue_enrollment_code(
                tele, ttl=timedelta(days=1), actor="test", origin="test"
            )
            chat = 8801
            tg.send_user_message(chat, f"/start {code}")
            tg.wait_for_text(chat, "connected", timeout=120)
            time.sleep(3)

            _connections(db_name, allowed=False)
            try:
                started = time.monotonic()
                status, reply = say(stack, local, RISKY)
                answered = time.monotonic() - started
                assert status == 200 and CRISIS_MARK in reply and HONEST in reply, (status, reply[:300])
                status, reply = say(stack, local, "hello")
                assert status in (200, 503), (status, reply)  # an honest "try again", never a 500

                n = len(bot)
                sio.emit("user_uttered", {"message": RISKY})
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not any(
                    CRISIS_MARK in b.get("text", "") for b in bot[n:]
                ):
                    time.sleep(0.2)
                assert any(CRISIS_MARK in b.get("text", "") for b in bot[n:]), (bot[n:], errors)

                start = len(tg.texts_to(chat))
                tg.send_user_message(chat, RISKY)
                assert HONEST in "\n".join(tg.wait_for_text(chat, CRISIS_MARK, start=start, timeout=60))
            finally:
                _connections(db_name, allowed=True)
            print(f"PostgreSQL down: a risk message answered with resources in {answered:.1f} s (local)")

            def flags(ref: str) -> list:
                return [
                    f
                    for f in store.flags.list_flags(actor="test", origin="reliability")
                    if f.patient_ref == ref
                ]

            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and not all(flags(r) for r in (local, web, tele)):
                time.sleep(1)
            time.sleep(5)  # a second write, if there were one, would land now
            for ref in (local, web, tele):
                written = flags(ref)
                assert len(written) == 1 and written[0].message_count == 1, (ref, written)
            print(f"3 flags written within {time.monotonic() - started:.0f} s of the outage, each once")
            # After the outage the conversation goes on.
            status, reply = say(stack, local, "hello")
            assert status == 200 and reply
        finally:
            if sio.connected:
                sio.disconnect()
            store.core.close()
            stack.stop()
