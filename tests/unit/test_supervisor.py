"""The supervisor with real child processes (small Python scripts)."""

from __future__ import annotations

import asyncio
import io
import socket
import sys

import pytest

from bot.supervisor import RunLock, Service, Supervisor, SupervisorError, check_ports_free, supervise


def test_second_lock_on_the_same_data_dir_is_refused(tmp_path):
    first = RunLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(SupervisorError, match="already running"):
            RunLock(tmp_path).acquire()
    finally:
        first.release()
    RunLock(tmp_path).acquire()  # free again once released


def test_busy_port_names_the_setting():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SupervisorError, match=f"Port {port} \\(INTERLUDE_RASA_PORT\\)"):
            check_ports_free({"INTERLUDE_RASA_PORT": port})


def _sup(tmp_path, *services):
    out = io.StringIO()
    return Supervisor(list(services), cwd=tmp_path, base_env={}, out=out), out


def test_a_dying_child_stops_the_others_and_fails(tmp_path):
    sleeper = Service(
        "sleeper", [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    )
    crasher = Service("crasher", [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(3)"])
    sup, out = _sup(tmp_path, sleeper, crasher)
    ready = []
    code = asyncio.run(supervise(sup, lambda: ready.append(True), install_signals=False))
    text = out.getvalue()
    assert code == 1 and ready == [True]
    assert "sleeper | up" in text and "crasher stopped unexpectedly" in text
    assert sup.procs["sleeper"].returncode is not None  # stopped, not orphaned


def test_a_child_that_dies_before_ready_is_named(tmp_path):
    bad = Service("bad", [sys.executable, "-c", "raise SystemExit(2)"], ready_url="http://127.0.0.1:9/")
    sup, out = _sup(tmp_path, bad)
    code = asyncio.run(supervise(sup, lambda: None, install_signals=False))
    assert code == 1 and "bad exited with code 2 before it was ready" in out.getvalue()


def test_stop_escalates_to_kill_for_a_child_that_ignores_sigterm(tmp_path, monkeypatch):
    import bot.supervisor as mod

    monkeypatch.setattr(mod, "GRACE_SECONDS", 1.0)
    stubborn = Service(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            "print('x', flush=True); time.sleep(60)",
        ],
    )
    sup, out = _sup(tmp_path, stubborn)

    async def scenario():
        await sup.start()
        await asyncio.sleep(0.5)
        await sup.stop()

    asyncio.run(scenario())
    assert "did not stop within" in out.getvalue()
    assert sup.procs["stubborn"].returncode is not None


def test_free_ports_are_distinct():
    from bot.supervisor import free_ports

    for _ in range(50):
        ports = free_ports(3)
        assert len(set(ports)) == 3
