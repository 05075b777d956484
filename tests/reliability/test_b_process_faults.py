"""SIGKILL each process of a running stack in turn, under a small steady load of patients.

Each kill is noticed and the process restarted by the supervisor while the others keep
serving; patients are answered again; risk messages always get crisis resources."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from bot.supervisor import url_ready
from tests.reliability.conftest import say

pytestmark = pytest.mark.integration

CRISIS_MARK = "988"
MARKERS = {
    "actions": "bot.rasa_ext.serve actions",
    "rasa": "bot.rasa_ext.serve rasa",
    "web": "uvicorn",
    "worker": "bot.workers escalation",
    "scheduler": "bot.workers scheduler",
}
#: Figures for the closing note, printed at the end of the module.
FIGURES: dict[str, str] = {}


def children(supervisor_pid: int) -> dict[str, int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(supervisor_pid)], capture_output=True, text=True, check=False
    ).stdout
    found = {}
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        for name, marker in MARKERS.items():
            if marker in args:
                found[name] = int(pid)
    return found


class Load:
    """A few patients journaling in a loop (two turns per entry); records when each turn was
    answered and which entries the patient was told were kept ("confirmed")."""

    def __init__(self, stack, refs: list[str]) -> None:
        self.stack, self.refs = stack, refs
        self.results: list[tuple[float, bool]] = []
        self.confirmed: dict[str, list[str]] = {r: [] for r in refs}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(r,), daemon=True) for r in refs]

    def _turn(self, ref: str, text: str) -> str:
        try:
            status, reply = say(self.stack, ref, text, timeout=30)
            ok = status == 200 and bool(reply.strip())
        except OSError:
            ok, reply = False, ""
        self.results.append((time.monotonic(), ok))
        return reply if ok else ""

    def _run(self, ref: str) -> None:
        i = 0
        while not self._stop.is_set():
            if "listening" in self._turn(ref, "I just want to write something"):
                entry = f"rel-entry {ref} {i}: the light on the wall was soft today"
                if "kept it for your therapist" in self._turn(ref, entry):
                    self.confirmed[ref].append(entry)
            i += 1
            self._stop.wait(0.3)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def answered_again_after(self, moment: float, timeout: float) -> float | None:
        """Seconds from `moment` until every patient had been answered again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            after = [(t, ok) for t, ok in list(self.results) if t > moment]
            failures = [t for t, ok in after if not ok]
            last_failure = max(failures) if failures else moment
            ok_since = [t for t, ok in after if ok and t > last_failure]
            if len(ok_since) >= len(self.refs):
                return min(ok_since) - moment
            time.sleep(0.2)
        return None


def _flags_of(store, ref: str) -> list:
    return [f for f in store.flags.list_flags(actor="test", origin="reliability") if f.patient_ref == ref]


def wait_for_line(stack, text: str, after: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in stack.console.read_text(encoding="utf-8", errors="replace")[after:]:
            return True
        time.sleep(0.2)
    return False


# Every process is killed here on SQLite and again on PostgreSQL (test_c_database_outage.py).
@pytest.mark.parametrize("name", ["worker", "scheduler", "web", "actions", "rasa"])
def test_a_killed_process_is_restarted_while_patients_keep_being_answered(rstack, rstore, patient, name):
    FIGURES[name] = kill_under_load(rstack, rstore, patient, name)
    print(f"SIGKILL {name}: {FIGURES[name]}")


def kill_under_load(rstack, rstore, patient, name: str) -> str:  # type: ignore[no-untyped-def]
    """SIGKILL one process under load and check everything the issue asks; returns the figures.
    Shared with the PostgreSQL run (test_c_database_outage.py)."""
    refs = [patient() for _ in range(3)]
    for ref in refs:
        say(rstack, ref, "hi")
    before = children(rstack.proc.pid)
    assert set(before) == set(MARKERS), before
    mark = len(rstack.console.read_text(encoding="utf-8", errors="replace"))
    with Load(rstack, refs) as load:
        time.sleep(1)
        killed_at = time.monotonic()
        os.kill(before[name], signal.SIGKILL)
        risky_ref = patient()
        if name != "rasa":  # (with Rasa itself down, nothing can answer: see below)
            # A risk message right away, whatever else is down: crisis resources, always.
            status, reply = say(rstack, risky_ref, "I want to kill myself tonight", timeout=120)
            assert status == 200 and CRISIS_MARK in reply, (status, reply[:300])
        done = f"{name} is ready again" if name in ("web", "actions", "rasa") else f"{name} restarted (pid"
        assert wait_for_line(rstack, done, mark, timeout=300), rstack.console.read_text()[-3000:]
        restarted = time.monotonic() - killed_at
        answered = load.answered_again_after(killed_at, timeout=300)
    assert answered is not None, "patients were not answered again"
    after = children(rstack.proc.pid)
    assert set(after) == set(MARKERS) and after[name] != before[name]
    for other in MARKERS:
        if other != name:
            assert after[other] == before[other], f"{other} was restarted too"
    if name == "web":
        assert url_ready(f"{rstack.settings.web_url}/healthz")
    if name == "rasa":  # Rasa was down for that one: it gets its turn now
        status, reply = say(rstack, risky_ref, "I want to kill myself tonight", timeout=120)
        assert status == 200 and CRISIS_MARK in reply
    # Every risk message becomes exactly one flag, whatever died (the action server included:
    # the pending-flag record is written by the worker's reconciler after the grace period).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _flags_of(rstore, risky_ref):
        time.sleep(1)
    time.sleep(3)  # a second write, if there were one, would land now
    assert len(_flags_of(rstore, risky_ref)) == 1, "a flag was lost"
    assert _flags_of(rstore, risky_ref)[0].message_count == 1, "a flag was written twice"
    # Every entry a patient was told was kept is stored, and none twice.
    confirmed = sum(len(v) for v in load.confirmed.values())
    lost = twice = 0
    for ref, entries in load.confirmed.items():
        stored = [a.text for a in rstore.checkins.list_answers(ref, actor="test", origin="reliability")]
        lost += sum(1 for e in entries if e not in stored)
        twice += sum(1 for t in set(stored) if t and t.startswith("rel-entry") and stored.count(t) > 1)
    assert lost == 0 and twice == 0, (lost, twice)
    worst_gap = max(0.0, answered)
    return (
        f"restarted in {restarted:.1f} s; patients answered again after {worst_gap:.1f} s; "
        f"{confirmed} confirmed entries, 0 lost, 0 stored twice; risk message answered, flagged once"
    )
