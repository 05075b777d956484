"""The escalation worker against real peers on loopback: a Telegram Bot API look-alike driven by
python-telegram-bot, an SMTP server (aiosmtpd) and a webhook receiver. The clock is injected."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from bot.config import PROJECT_ROOT
from bot.escalation.config import parse_alert_config
from bot.escalation.senders import build_senders, sign
from bot.escalation.worker import Worker
from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.store import migrate
from tests.peers.smtp import Inbox, SmtpServer
from tests.peers.telegram_api import FakeTelegram
from tests.peers.webhook import WebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "webhook-secret-for-tests-0123456789"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
RISK_TEXT = "escalation-canary: I keep thinking about ending my life"


# python-telegram-bot's HTTP client belongs to the event loop it first ran on, as in the worker
# process, which runs one loop for its whole life: so do these tests.
_RUNNER = asyncio.Runner()


def tick(worker: Worker):
    return _RUNNER.run(worker.tick())


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def alerts_yaml(tg: FakeTelegram | None, smtp: SmtpServer | None, hook: WebhookReceiver | None) -> dict:
    clinic: dict = {}
    data: dict = {"clinics": {"c": clinic}}
    if tg:
        data["telegram"] = {"token_env": "TEST_ALERT_TOKEN"}
        clinic["telegram"] = {"chat_id": "-100", "backup_chat_id": "-200"}
    if smtp:
        data["email"] = {"host": "127.0.0.1", "port": smtp.port, "from": "alerts@example.invalid"}
        clinic["email"] = {"to": ["oncall@example.invalid"], "backup_to": ["lead@example.invalid"]}
    if hook:
        clinic["webhook"] = {"url": hook.hook_url, "secret_env": "TEST_WEBHOOK_SECRET"}
    clinic["deadlines"] = {"high": "30m", "critical": "5m"}
    return data


ENV = {"TEST_ALERT_TOKEN": "123456:TEST-TOKEN", "TEST_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def world(tmp_path, database_url):
    """A store with one clinic, a therapist bound to Telegram user 777, and a patient."""
    migrate.upgrade(database_url)
    clock = Clock(T0)
    store = Store.open(database_url, tmp_path, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Test Clinic")
    store.staff.ensure_staff(clinic, "t@example.invalid", "Dr Tee", "therapist", None)
    store.staff.set_staff_telegram("t@example.invalid", "777")
    ref = store.patients.create_patient(
        clinic_id=clinic, therapist_id=store.staff.staff_id_by_email("t@example.invalid"), display_name="P"
    ).ref
    yield store, clock, ref, database_url
    store.core.close()


def make_worker(store, clock, tg=None, smtp=None, hook=None, **kw) -> tuple[Worker, object]:
    config = parse_alert_config(
        alerts_yaml(tg, smtp, hook),
        "alerts.yml",
        {**ENV, **({"INTERLUDE_TELEGRAM_API_URL": tg.api_url} if tg else {})},
        public_url="https://portal.example.invalid",
    )
    return Worker(store.deliveries, config, build_senders(config), clock=clock, **kw), config


def flag(store, ref, config, severity="high"):
    clinic = config.for_clinic("c")
    return store.flags.record_risk(
        ref,
        message_id="m1",
        text=RISK_TEXT,
        signal=SignalInput(severity, ["suicide"], []),
        alert_channels=clinic.channels(),
        deadlines=clinic.deadlines,
    )


def test_alerts_reach_every_channel_with_the_minimum_necessary(world):
    store, clock, ref, url = world
    seen_flag_rows = []

    def check_flag_exists(_payload):  # runs inside the Telegram look-alike as the alert arrives
        engine = create_engine(url)
        with engine.connect() as conn:
            seen_flag_rows.append(conn.execute(text("SELECT count(*) FROM risk_flags")).scalar_one())
        engine.dispose()

    with FakeTelegram(on_send=check_flag_exists) as tg, SmtpServer() as smtp, WebhookReceiver() as hook:
        worker, config = make_worker(store, clock, tg, smtp, hook)
        res = flag(store, ref, config)
        result = tick(worker)
        assert result.delivered == 3 and result.failed == 0

        assert seen_flag_rows == [1]  # the flag row existed before the alert went out
        (sent,) = tg.sent
        assert sent["chat_id"] in (-100, "-100")
        assert ref in sent["text"] and "HIGH risk: suicide" in sent["text"]
        keyboard = sent["reply_markup"]["inline_keyboard"]
        assert keyboard[0][0]["text"] == "Acknowledge" and keyboard[0][0]["callback_data"].startswith("ack:")
        assert keyboard[1][0]["url"] == f"https://portal.example.invalid/portal/flags/{res.flag_id}"

        (mail,) = smtp.inbox.messages
        assert mail["To"] == "oncall@example.invalid" and "HIGH risk flag" in mail["Subject"]

        ((headers, body),) = hook.requests
        assert headers["x-interlude-signature"] == sign(SECRET, headers["x-interlude-timestamp"], body)
        payload = json.loads(body)
        assert payload["patient_id"] == ref and payload["severity"] == "high"

        everything = json.dumps(tg.calls) + mail.as_string() + body.decode()
        assert "ending my life" not in everything and "escalation-canary" not in everything

        assert tick(worker).delivered == 0  # delivered once, not again


def test_failures_back_off_then_deliver(world):
    store, clock, ref, _ = world
    with WebhookReceiver() as hook:
        hook.fail_next = 2
        worker, config = make_worker(store, clock, hook=hook)
        flag(store, ref, config)
        assert tick(worker).failed == 1  # 503: retry in 5 s
        assert tick(worker).failed == 0  # not due yet
        clock.advance(seconds=6)
        assert tick(worker).failed == 1  # 503 again: retry in 10 s
        clock.advance(seconds=6)
        assert tick(worker).delivered == 0
        clock.advance(seconds=5)
        assert tick(worker).delivered == 1
        assert len(hook.requests) == 1


def test_telegram_flood_control_retry_after_is_honoured(world):
    store, clock, ref, _ = world
    with FakeTelegram() as tg:
        tg.flood_left = 1
        worker, config = make_worker(store, clock, tg=tg)
        flag(store, ref, config)
        assert tick(worker).failed == 1
        assert tick(worker).delivered == 0
        clock.advance(seconds=1.5)  # Telegram said retry after 1 s
        assert tick(worker).delivered == 1
        assert len(tg.sent) == 1


def test_missed_deadline_re_escalates_to_the_backup(world):
    store, clock, ref, _ = world
    with FakeTelegram() as tg, SmtpServer() as smtp:
        worker, config = make_worker(store, clock, tg, smtp)
        flag(store, ref, config)
        tick(worker)
        clock.advance(minutes=29)
        assert tick(worker).escalated == 0
        clock.advance(minutes=2)  # 31 minutes: the 30-minute deadline for high has passed
        result = tick(worker)
        assert result.escalated == 1 and result.delivered == 2
        backup_tg = tg.sent[-1]
        assert str(backup_tg["chat_id"]) == "-200" and backup_tg["text"].startswith("OVERDUE")
        assert smtp.inbox.messages[-1]["To"] == "lead@example.invalid"
        assert "OVERDUE" in smtp.inbox.messages[-1]["Subject"]
        events = [e["action"] for e in store.core.audit_events(patient_ref=ref)]
        assert "risk_flag.escalate" in events

        # Acknowledged now: no further escalation when the backup's deadline passes too.
        flag_id = store.flags.list_flags(actor="t", origin="t")[0].id
        store.flags.acknowledge_flag(
            flag_id, store.staff.staff_id_by_email("t@example.invalid"), origin="portal"
        )
        clock.advance(minutes=31)
        assert tick(worker).escalated == 0


def alert_with_button(store, clock, ref, tg):  # type: ignore[no-untyped-def]
    """Flag the patient and let the worker send the Telegram alert; return what a press needs."""
    worker, config = make_worker(store, clock, tg=tg)
    res = flag(store, ref, config)
    tick(worker)
    message = tg.sent[0]["message"]
    callback = tg.sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return worker, res, message, callback


def test_acknowledge_button_from_staff_is_recorded_and_audited(world):
    store, clock, ref, _ = world
    with FakeTelegram() as tg:
        worker, res, message, callback = alert_with_button(store, clock, ref, tg)
        tg.queue_callback(from_id=999, data=callback, message=message)  # not staff
        tg.queue_callback(from_id=777, data=callback, message=message)  # Dr Tee
        result = tick(worker)
        assert result.acknowledged == 1
        assert store.flags.flag_status(res.flag_id) == "acknowledged"
        answers = [p for m, p in tg.calls if m == "answerCallbackQuery"]
        assert "not registered" in answers[0]["text"] and answers[1]["text"].startswith("Acknowledged")
        assert "Your Telegram user id is 999" in answers[0]["text"]  # what an admin binds in the portal
        edits = [p for m, p in tg.calls if m == "editMessageText"]
        assert "Acknowledged by Dr Tee" in edits[0]["text"]
        acks = [e for e in store.core.audit_events(patient_ref=ref) if e["action"] == "risk_flag.acknowledge"]
        assert [(e["actor"], e["origin"]) for e in acks] == [
            (f"staff:{store.staff.staff_id_by_email('t@example.invalid')}", "telegram")
        ]
        # Updates are consumed once, across restarts (offset kept in the database).
        assert tick(worker).acknowledged == 0


def test_a_disabled_staff_members_button_press_acknowledges_nothing(world):
    store, clock, ref, _ = world
    admin, _ = store.staff.ensure_staff(1, "admin@example.invalid", "Ada", "admin", None)
    store.staff_admin.update_staff(admin, store.staff.staff_id_by_email("t@example.invalid"), disabled=True)
    with FakeTelegram() as tg:
        worker, res, message, callback = alert_with_button(store, clock, ref, tg)
        tg.queue_callback(from_id=777, data=callback, message=message)  # Dr Tee, who has left
        assert tick(worker).acknowledged == 0
        assert store.flags.flag_status(res.flag_id) == "open"


def test_a_flood_of_risk_messages_is_one_alert_per_channel(world):
    store, clock, ref, _ = world
    with SmtpServer() as smtp:
        worker, config = make_worker(store, clock, smtp=smtp)
        for _ in range(50):
            flag(store, ref, config)
        tick(worker)
        assert len(smtp.inbox.messages) == 1


@pytest.mark.postgres
def test_two_workers_never_send_the_same_alert(tmp_path, postgres_url):
    migrate.upgrade(postgres_url)
    store = Store.open(postgres_url, tmp_path, environ={})
    clinic = store.staff.ensure_clinic("c", "C")
    staff, _ = store.staff.ensure_staff(clinic, "s@example.invalid", "S", "therapist", None)
    with WebhookReceiver() as hook:
        config = parse_alert_config(alerts_yaml(None, None, hook), "alerts.yml", ENV, public_url="https://x")
        for _ in range(20):
            ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="P").ref
            store.flags.record_risk(
                ref,
                message_id=None,
                text="t",
                signal=SignalInput("high", ["suicide"], []),
                alert_channels=["webhook"],
            )
        stores = [Store.open(postgres_url, tmp_path, environ={}) for _ in range(2)]
        workers = [Worker(s.deliveries, config, build_senders(config)) for s in stores]

        async def race():
            return await asyncio.gather(*(w.tick() for w in workers for _ in range(3)))

        results = _RUNNER.run(race())
        assert sum(r.delivered for r in results) == 20
        ids = [h["x-interlude-delivery"] for h, _ in hook.requests]
        assert len(ids) == 20 and len(set(ids)) == 20
        for s in [*stores, store]:
            s.core.close()


def test_worker_killed_mid_delivery_delivers_exactly_once_after_restart(tmp_path):
    """A real worker process is killed (SIGKILL) while its SMTP transaction hangs; a new one
    takes over after the claim's lease and the alert arrives exactly once."""
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'interlude.db'}"
    migrate.upgrade(url)
    store = Store.open(url, data, environ={})
    clinic = store.staff.ensure_clinic("c", "C")
    staff, _ = store.staff.ensure_staff(clinic, "s@example.invalid", "S", "therapist", None)
    ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="P").ref
    stall = threading.Event()
    stall.set()
    inbox = Inbox(stall=stall)
    with SmtpServer(inbox) as smtp:
        (data / "alerts.yml").write_text(yaml.safe_dump(alerts_yaml(None, smtp, None)))
        store.flags.record_risk(
            ref,
            message_id=None,
            text="t",
            signal=SignalInput("high", ["suicide"], []),
            alert_channels=["email"],
        )
        env = {**os.environ, "INTERLUDE_DATA_DIR": str(data), "INTERLUDE_ALERT_LEASE_SECONDS": "2"}

        def start_worker(log: Path) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-m", "bot.workers", "escalation"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )

        first = start_worker(tmp_path / "w1.log")
        assert inbox.data_started.wait(30), (tmp_path / "w1.log").read_text()
        first.send_signal(signal.SIGKILL)  # mid-delivery: the server never accepted the message
        first.wait(10)
        stall.clear()
        assert inbox.messages == []

        second = start_worker(tmp_path / "w2.log")
        try:
            deadline = time.monotonic() + 30
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # longer than the lease: a duplicate would have arrived by now
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(10)
        assert len(inbox.messages) == 1, (tmp_path / "w2.log").read_text()
    store.core.close()
