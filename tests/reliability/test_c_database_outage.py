"""PostgreSQL made unreachable for a running stack (ALLOW_CONNECTIONS false + its connections
terminated), with a risk message at that moment: crisis resources at once, the flag kept, and
exactly one flag once the database is back. Ordinary messages get an honest "try again"."""

from __future__ import annotations

import time

import pytest

from bot.demo import DEMO_PATIENT_REF
from bot.store.api import Store
from tests.conftest import _pg_admin
from tests.integration.stack import start_stack
from tests.reliability.conftest import say

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CRISIS_MARK = "988"


def _connections(db_name: str, allowed: bool) -> None:
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,)
            )
    admin.close()


def test_a_risk_message_during_a_postgres_outage_is_answered_and_flagged_once(tmp_path, postgres_url):
    stack = start_stack(tmp_path / "data", tmp_path / "console.log", INTERLUDE_DATABASE_URL=postgres_url)
    db_name = postgres_url.rsplit("/", 1)[1]
    try:
        say(stack, DEMO_PATIENT_REF, "hi")
        say(stack, DEMO_PATIENT_REF, "yes")  # consent
        _connections(db_name, allowed=False)
        try:
            started = time.monotonic()
            status, reply = say(stack, DEMO_PATIENT_REF, "I want to kill myself tonight")
            answered = time.monotonic() - started
            assert status == 200 and CRISIS_MARK in reply, (status, reply[:300])
            assert "care team may not have been told" in reply  # honest about the outage
            status, reply = say(stack, DEMO_PATIENT_REF, "hello")
            assert status in (200, 503), (status, reply)  # never a 500
        finally:
            _connections(db_name, allowed=True)
        print(f"PostgreSQL down: risk message answered with resources in {answered:.1f} s")
        store = Store.open(postgres_url, stack.settings.data_dir, environ={})
        try:
            deadline = time.monotonic() + 120
            flags: list = []
            while time.monotonic() < deadline:
                flags = [
                    f
                    for f in store.list_flags(actor="test", origin="reliability")
                    if f.patient_ref == DEMO_PATIENT_REF
                ]
                if flags:
                    break
                time.sleep(1)
            time.sleep(5)  # a second write, if there were one, would land now
            flags = [
                f
                for f in store.list_flags(actor="test", origin="reliability")
                if f.patient_ref == DEMO_PATIENT_REF
            ]
            assert len(flags) == 1 and flags[0].message_count == 1, flags
            print(f"flag written {time.monotonic() - started:.0f} s after the risk message, once")
        finally:
            store.close()
        # After the outage the conversation goes on.
        status, reply = say(stack, DEMO_PATIENT_REF, "hello")
        assert status == 200 and reply
    finally:
        stack.stop()
