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


@pytest.fixture
def fast_backoff(monkeypatch):
    import bot.supervisor as mod

    monkeypatch.setattr(mod, "BACKOFF_BASE", 0.05)
    monkeypatch.setattr(mod, "BACKOFF_MAX", 0.2)


def test_a_crash_loop_gives_up_with_one_sentence_and_stops_the_others(tmp_path, fast_backoff):
    sleeper = Service(
        "sleeper", [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    )
    crasher = Service("crasher", [sys.executable, "-c", "import time; time.sleep(0.2); raise SystemExit(3)"])
    sup, out = _sup(tmp_path, sleeper, crasher)
    ready = []
    code = asyncio.run(supervise(sup, lambda: ready.append(True), install_signals=False))
    text = out.getvalue()
    assert code == 1 and ready == [True]
    assert "sleeper | up" in text
    assert text.count("crasher stopped unexpectedly (exit code 3); restarting it") == 5
    assert "Error: crasher keeps crashing (6 exits within 60 s, last exit code 3); giving up" in text
    assert len(sup.restarts["crasher"]) == 5 and "sleeper" not in sup.restarts
    assert sup.procs["sleeper"].returncode is not None  # stopped, not orphaned


def test_backoff_doubles_up_to_a_cap():
    from bot.supervisor import BACKOFF_MAX, backoff_delay

    delays = [backoff_delay(n) for n in range(1, 8)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == BACKOFF_MAX and delays == sorted(delays)


SERVER = """
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
print("serving", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _get(port: int) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
            return resp.read().decode()
    except OSError:
        return None


def test_a_killed_child_is_restarted_while_the_others_keep_answering(tmp_path, fast_backoff):
    import os
    import signal
    import time

    from bot.supervisor import free_ports

    pa, pb = free_ports(2)
    a = Service("a", [sys.executable, "-c", SERVER, str(pa)], ready_url=f"http://127.0.0.1:{pa}/")
    b = Service("b", [sys.executable, "-c", SERVER, str(pb)], ready_url=f"http://127.0.0.1:{pb}/")
    sup, out = _sup(tmp_path, a, b)

    async def scenario():
        stop = asyncio.Event()
        await sup.start()
        await sup.wait_ready()
        runner = asyncio.create_task(sup.run_forever(stop))
        old_a, old_b = sup.procs["a"].pid, sup.procs["b"].pid
        os.kill(old_a, signal.SIGKILL)
        b_answers, started = [], time.monotonic()
        while time.monotonic() - started < 30:
            b_answers.append(await asyncio.to_thread(_get, pb))
            now_a = await asyncio.to_thread(_get, pa)
            if now_a is not None and int(now_a) != old_a:
                break
            await asyncio.sleep(0.05)
        for _ in range(200):  # the supervisor's own readiness check follows shortly
            if sup.recovery_times.get("a"):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await runner
        await sup.stop()
        return old_a, old_b, now_a, b_answers

    old_a, old_b, now_a, b_answers = asyncio.run(scenario())
    assert now_a is not None and int(now_a) != old_a  # a new process answers for a
    assert b_answers and all(ans == str(old_b) for ans in b_answers)  # b answered every time
    text = out.getvalue()
    assert "a stopped unexpectedly (exit code -9); restarting it" in text
    assert "a is ready again" in text and sup.recovery_times["a"]


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


SUPERVISOR_SCRIPT = """
import asyncio, sys
from pathlib import Path
from bot.supervisor import RunLock, Service, Supervisor, supervise
tmp = Path(sys.argv[1])
lock = RunLock(tmp)
lock.acquire()
child = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
services = [Service(n, [sys.executable, "-c", child, str(tmp / f"{n}.pid")]) for n in ("one", "two")]
sup = Supervisor(services, cwd=tmp, base_env={}, lock=lock)
asyncio.run(supervise(sup, lambda: print("ready", flush=True)))
"""


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def _wait_for(predicate, timeout: float) -> float | None:
    import time

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_children_die_with_a_sigkilled_supervisor_and_its_lock_is_then_explained(tmp_path):
    import os
    import signal
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR_SCRIPT, str(tmp_path)], env=env)
    pid_files = [tmp_path / "one.pid", tmp_path / "two.pid"]
    assert _wait_for(lambda: all(p.exists() and p.read_text() for p in pid_files), 30) is not None
    children = [int(p.read_text()) for p in pid_files]
    assert all(_alive(c) for c in children)
    with pytest.raises(SupervisorError, match="already running"):  # a live run still refuses
        RunLock(tmp_path).acquire()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    took = _wait_for(lambda: not any(_alive(c) for c in children), 5)
    assert took is not None, "children outlived their supervisor"
    print(f"children gone {took:.2f} s after the supervisor was SIGKILLed")
    lock = RunLock(tmp_path)
    lock.acquire()  # free: the kernel dropped it with the last holder
    try:
        assert (
            lock.stale_note
            and f"pid {proc.pid}" in lock.stale_note
            and "did not stop cleanly" in lock.stale_note
        )
    finally:
        lock.release()
    again = RunLock(tmp_path)
    again.acquire()  # a clean release leaves nothing stale behind
    assert again.stale_note is None
    again.release()


ORPHANING_HOLDER = """
import subprocess, sys, time
from pathlib import Path
from bot.supervisor import RunLock
lock = RunLock(Path(sys.argv[1]))
lock.acquire()
# A child that holds the lock but was started without the death signal (an old-style orphan).
code = f"import time; time.sleep({sys.argv[2]})"
child = subprocess.Popen([sys.executable, "-c", code], pass_fds=(lock.fd,))
print(child.pid, flush=True)
time.sleep(120)
"""


def test_a_lock_held_by_orphans_of_a_dead_run_refuses_and_names_them(tmp_path, monkeypatch):
    import os
    import signal
    import subprocess

    import bot.supervisor as mod

    monkeypatch.setattr(mod, "STALE_WAIT_SECONDS", 1.0)
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHANING_HOLDER, str(tmp_path), "120"], stdout=subprocess.PIPE, text=True
    )
    orphan = int(proc.stdout.readline())
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with pytest.raises(SupervisorError) as err:
            RunLock(tmp_path).acquire()
        message = str(err.value)
        assert f"(pid {proc.pid}) is gone" in message and str(orphan) in message
    finally:
        os.kill(orphan, signal.SIGKILL)


def test_a_lock_whose_last_holders_are_still_exiting_is_waited_for(tmp_path):
    """Right after a hard kill, the run's last processes may take a moment to exit."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHANING_HOLDER, str(tmp_path), "1.5"], stdout=subprocess.PIPE, text=True
    )
    proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = RunLock(tmp_path)
    lock.acquire()  # waits until the holder has exited, then takes the stale lock over
    try:
        assert lock.stale_note and f"pid {proc.pid}" in lock.stale_note
    finally:
        lock.release()
