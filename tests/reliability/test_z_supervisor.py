"""Last: SIGKILL the supervisor itself. Its children must not outlive it, and the data folder's
lock is then explained as stale, not refused."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bot.supervisor import RunLock
from tests.reliability.test_b_process_faults import MARKERS, children

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie is dead
    except FileNotFoundError:
        return True


def test_killing_the_supervisor_takes_every_process_with_it(rstack):
    kids = children(rstack.proc.pid)
    assert set(kids) == set(MARKERS), kids
    os.kill(rstack.proc.pid, signal.SIGKILL)
    rstack.proc.wait(30)
    killed = time.monotonic()
    while time.monotonic() - killed < 10 and not all(_gone(p) for p in kids.values()):
        time.sleep(0.05)
    left = {n: p for n, p in kids.items() if not _gone(p)}
    try:
        assert not left, f"still running after the supervisor died: {left}"
    finally:
        for pid in left.values():
            os.kill(pid, signal.SIGKILL)
    print(f"SIGKILL supervisor: all {len(kids)} processes gone {time.monotonic() - killed:.2f} s later")
    lock = RunLock(rstack.settings.data_dir)
    lock.acquire()  # a new run may start, and says why the old lock was stale
    try:
        assert lock.stale_note and f"pid {rstack.proc.pid}" in lock.stale_note
    finally:
        lock.release()
