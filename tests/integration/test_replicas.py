"""`interlude run --replicas 2` on PostgreSQL and Redis: patients writing at once through the web
chat and the local channel lose nothing, and every conversation's stored events keep their
order, though each conversation is written by both replicas at once (see replica_traffic.py).

A few patients here, to keep `make test` short; `make bench` runs 50 patients x 20 messages
with the same checks (bot/bench_replicas.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import socketio

from bot.config import PROJECT_ROOT
from bot.flags.handoff import RasaApi
from bot.runtime import Store
from tests.integration.replica_traffic import converse, enrol, order_problems, start_replicas
from tests.integration.stack import stack_env

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]

PATIENTS = 4
MESSAGES = 6  # per patient: 3 through the web chat, 3 through the local channel, at once


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
            a_checkin_reaches_every_socket_whichever_replica_holds_it(stack, store)
        finally:
            store.core.close()
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


def a_checkin_reaches_every_socket_whichever_replica_holds_it(stack, store) -> None:
    """The scheduler and the portal call the first replica; the patient's two open chats are on
    one replica each (the web app gives new sockets to the replicas in turn)."""
    (patient,) = enrol(store, 1)
    stack.client(patient.ref).send("hello")
    heard: list[list[dict]] = [[], []]
    sockets = []
    for i in range(2):
        sio = socketio.Client(reconnection=False)
        sio.on("bot_uttered", heard[i].append)
        sio.connect(
            stack.settings.web_url, transports=["polling"], auth={"token": patient.token}, wait_timeout=60
        )
        sockets.append(sio)
    RasaApi(stack.settings.rasa_url, stack.settings.api_token).trigger_intent(
        patient.ref, "EXTERNAL_checkin_due", {"prompt_set": "daily"}, "webchat"
    )
    deadline = time.monotonic() + 60
    while not all(any("mood" in m.get("text", "") for m in h) for h in heard) and time.monotonic() < deadline:
        time.sleep(0.2)
    for sio in sockets:
        sio.disconnect()
    assert all(any("mood" in m.get("text", "") for m in h) for h in heard), heard
