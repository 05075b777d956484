"""PostgreSQL made unreachable for a running stack (ALLOW_CONNECTIONS false + its connections
terminated), then processes killed on PostgreSQL. One stack (with a fake Telegram) for all:
- a risk message at that moment in each channel (local, web chat, Telegram): crisis resources
  at once, the flag kept, exactly one flag per message once the database is back;
- ordinary conversation goes on in each channel: a journal entry is held in the spool and
  saved once, nothing written meanwhile is misfiled, the conversation picks up where it was;
- SIGKILL of the action server and of the Rasa server under load, as on SQLite (test_b)."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta

import pytest
import socketio

from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.runtime import Store
from tests.conftest import PG_ADMIN_URL, _pg_admin
from tests.integration.stack import start_stack
from tests.peers.telegram_api import FakeTelegram
from tests.reliability.conftest import say
from tests.reliability.outage import (
    CRISIS_MARK,
    HONEST,
    NOT_KEPT,
    RISKY,
    flags_of,
    journal_through_outage,
    user_texts,
)
from tests.reliability.test_b_process_faults import kill_under_load

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

TOKEN = "654321:OUTAGE-TOKEN"
#: What the patient saw, and the kill figures, for the closing note (printed as they come).
SAW: dict[str, str] = {}


def _connections(db_name: str, allowed: bool) -> None:
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,)
            )
    admin.close()


class PgStack:
    def __init__(self, stack, store: Store, tg: FakeTelegram, db_name: str) -> None:  # type: ignore[no-untyped-def]
        self.stack, self.store, self.tg, self.db_name = stack, store, tg, db_name
        self.chats = 8800

    def down(self) -> None:
        _connections(self.db_name, allowed=False)

    def up(self) -> None:
        _connections(self.db_name, allowed=True)

    def enroll(self, name: str) -> str:
        result = self.stack.cli("patient", "enroll", "--therapist", DEMO_THERAPIST_EMAIL, "--name", name)
        assert result.returncode == 0, result.stderr
        ref = json.loads(result.stdout)["patient_id"]
        self.store.patients.record_consent(ref, "test")
        return ref

    def patient(self) -> str:
        """A fresh consented patient (without the CLI, as the SQLite suite's factory)."""
        clinic_id = self.store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
        staff_id = self.store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
        ref = self.store.patients.create_patient(
            clinic_id=clinic_id, therapist_id=staff_id, display_name="Pg"
        ).ref
        self.store.patients.record_consent(ref, "test")
        return ref

    def web(self, ref: str) -> tuple[socketio.Client, list[dict]]:
        token = self.store.patients.issue_web_token(ref, ttl=timedelta(days=1), actor="test", origin="test")
        sio = socketio.Client(reconnection=False)
        bot: list[dict] = []
        sio.on("bot_uttered", bot.append)
        sio.on("chat_error", lambda e: bot.append({"text": e.get("message", ""), "error": True}))
        url = self.stack.settings.web_url
        sio.connect(url, transports=["polling"], auth={"token": token}, wait_timeout=30)
        return sio, bot

    def telegram(self, ref: str) -> int:
        self.chats += 1
        code = self.store.patients.issue_enrollment_code(
            ref, ttl=timedelta(days=1), actor="test", origin="test"
        )
        self.tg.send_user_message(self.chats, f"/start {code}")
        self.tg.wait_for_text(self.chats, "connected", timeout=120)
        return self.chats


@pytest.fixture(scope="module")
def pg(tmp_path_factory) -> PgStack:
    name = "interlude_t_" + secrets.token_hex(6)
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    root = tmp_path_factory.mktemp("pg-outage")
    with FakeTelegram(token=TOKEN, username="interlude_outage_bot") as tg:
        stack = start_stack(
            root / "data",
            root / "console.log",
            INTERLUDE_DATABASE_URL=url,
            INTERLUDE_TELEGRAM_API_URL=tg.api_url,
            INTERLUDE_TELEGRAM_TOKEN=TOKEN,
            INTERLUDE_SCHEDULER_INTERVAL="1",
        )
        store = Store.open(url, stack.settings.data_dir, environ={})
        try:
            yield PgStack(stack, store, tg, name)
        finally:
            _connections(name, allowed=True)
            store.core.close()
            stack.stop()
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_risk_message_during_a_postgres_outage_is_answered_and_flagged_once(pg):
    stack, store, tg = pg.stack, pg.store, pg.tg
    local, web, tele = (pg.enroll(n) for n in ("Local", "Web", "Tele"))
    say(stack, local, "hello")
    sio, bot = pg.web(web)  # connected, nothing said yet: not in memory when the database goes
    chat = pg.telegram(tele)
    try:
        time.sleep(3)
        pg.down()
        try:
            started = time.monotonic()
            status, reply = say(stack, local, RISKY)
            answered = time.monotonic() - started
            ok = CRISIS_MARK in reply and any(h in reply for h in HONEST)
            assert status == 200 and ok, (status, reply[:300])

            n = len(bot)
            sio.emit("user_uttered", {"message": RISKY})
            assert _wait(lambda: any(CRISIS_MARK in b.get("text", "") for b in bot[n:]), 60), bot[n:]

            start = len(tg.texts_to(chat))
            tg.send_user_message(chat, RISKY)
            tg.wait_for_text(chat, CRISIS_MARK, start=start, timeout=60)

            def seen() -> str:  # the crisis reply and the honest note may come as two messages
                return "\n".join(tg.texts_to(chat)[start:])

            assert _wait(lambda: any(h in seen() for h in HONEST), 30), seen()
        finally:
            pg.up()
        print(f"PostgreSQL down: a risk message answered with resources in {answered:.1f} s (local)")
        assert _wait(lambda: all(flags_of(store, r) for r in (local, web, tele)), 150)
        time.sleep(5)  # a second write, if there were one, would land now
        for ref in (local, web, tele):
            written = flags_of(store, ref)
            assert len(written) == 1 and written[0].message_count == 1, (ref, written)
        print(f"3 flags written within {time.monotonic() - started:.0f} s of the outage, each once")
        status, reply = say(stack, local, "hello")  # after the outage the conversation goes on
        assert status == 200 and reply
    finally:
        sio.disconnect()


def test_ordinary_conversation_goes_on_in_every_channel_during_a_postgres_outage(pg):
    stack, store, tg = pg.stack, pg.store, pg.tg
    web, tele = pg.enroll("Web2"), pg.enroll("Tele2")
    sio, bot = pg.web(web)
    chat = pg.telegram(tele)
    try:
        n = len(bot)
        sio.emit("user_uttered", {"message": "hello"})
        assert _wait(lambda: len(bot) > n, 60)
        time.sleep(1)

        def web_and_telegram_down() -> None:
            pg.down()
            m = len(bot)
            sio.emit("user_uttered", {"message": "hello"})
            assert _wait(lambda: len(bot) > m, 60), bot[m:]
            time.sleep(1)
            SAW["web chat, hello"] = " | ".join(b.get("text", "") for b in bot[m:])
            assert not any(b.get("error") for b in bot[m:]), bot[m:]  # answered, not "try again"
            assert "Welcome back" in SAW["web chat, hello"]  # where it was: not a new welcome
            start = len(tg.texts_to(chat))
            tg.send_user_message(chat, "hello")
            tg.wait_for_text(chat, "", start=start, timeout=60)
            time.sleep(1)
            SAW["telegram, hello"] = " | ".join(tg.texts_to(chat)[start:])
            assert NOT_KEPT not in SAW["telegram, hello"]
            assert "unavailable" not in SAW["telegram, hello"], SAW["telegram, hello"]
            assert "Welcome back" in SAW["telegram, hello"], SAW["telegram, hello"]

        saw = journal_through_outage(stack, store, pg.patient, web_and_telegram_down, pg.up, "pg")
    finally:
        sio.disconnect()
    SAW.update({f"local, {k}": v for k, v in saw.items()})
    for key, text in SAW.items():
        print(f"PostgreSQL down, {key}: {text[:160]}")
    # The web chat and Telegram turns in the outage were stored, once, after it.
    assert user_texts(store, web) == ["hello", "hello"]
    assert user_texts(store, tele)[-1:] == ["hello"] and user_texts(store, tele).count("hello") == 1


@pytest.mark.parametrize("name", ["worker", "scheduler", "web", "actions", "rasa"])
def test_a_killed_process_on_postgres_is_restarted_and_nothing_is_lost(pg, name):
    figures = kill_under_load(pg.stack, pg.store, pg.patient, name)
    print(f"PostgreSQL, SIGKILL {name}: {figures}")
