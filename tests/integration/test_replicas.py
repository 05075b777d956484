"""`interlude run --replicas 2` on PostgreSQL and Redis: patients writing at once through the web
chat and the local channel lose nothing, and every conversation's stored events keep their
order, though each conversation is written by both replicas at once (see replica_traffic.py).

A few patients here, to keep `make test` short; `make bench` runs 50 patients x 20 messages
with the same checks (bot/bench_replicas.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import PROJECT_ROOT
from bot.store.api import Store
from tests.integration.replica_traffic import converse, enrol, order_problems, start_replicas
from tests.integration.stack import stack_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]

PATIENTS = 6
MESSAGES = 8  # per patient: 4 through the web chat, 4 through the local channel, at once


def test_two_replicas_keep_every_conversation_whole_and_in_order(tmp_path, postgres_url):
    data = tmp_path / "data"
    stack = start_replicas(data, tmp_path / "console.log", postgres_url, 2)
    try:
        store = Store.open(postgres_url, data, environ={})
        try:
            console = stack.console.read_text(encoding="utf-8")
            assert "rasa-1 | " in console and "rasa-2 | " in console
            patients = enrol(store, PATIENTS)
            converse(stack, patients, MESSAGES)
            problems = {p.ref: order_problems(store, p) for p in patients}
            assert not any(problems.values()), problems
            for p in patients:
                assert len(p.sent["web"]) + len(p.sent["local"]) == MESSAGES
                assert p.replies["web"] >= len(p.sent["web"]) and p.replies["local"] == len(p.sent["local"])
        finally:
            store.close()
    finally:
        assert stack.stop() == 0
    log = (data / "logs" / "interlude.log").read_text(encoding="utf-8")
    assert "changed while a message was handled" not in log  # the tracker store saw no overlap
    assert "LockError" not in log


def test_several_replicas_are_refused_on_sqlite_in_one_sentence(tmp_path):
    env = stack_env(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--replicas", "2"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "interlude: --replicas above 1 needs PostgreSQL (set INTERLUDE_DATABASE_URL=postgresql://...): "
        "several Rasa servers cannot share one SQLite file safely."
    ]
