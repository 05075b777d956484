"""Run several processes as one: prefixed logs, readiness checks, clean shutdown.

Children run in their own sessions, so Ctrl-C reaches only the supervisor, which then stops
them in order (SIGTERM, then SIGKILL after a grace period). If any child dies, the rest are
stopped and the supervisor exits non-zero, naming the one that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

GRACE_SECONDS = 10.0
COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m")
RESET = "\033[0m"


class SupervisorError(Exception):
    """Start-up could not proceed; the message is one sentence for the user."""


@dataclass
class Service:
    name: str
    argv: Sequence[str]
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 240.0


class RunLock:
    """An exclusive lock on the data folder, so two runs never share one database."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "interlude.lock"
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise SupervisorError(
                    f"Interlude is already running with this data folder ({self.path.parent}, "
                    f"pid {holder}); stop it first or set INTERLUDE_DATA_DIR to another folder."
                ) from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def check_ports_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Fail early, naming the setting, if a port we need is taken."""
    for setting, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                raise SupervisorError(
                    f"Port {port} ({setting}) is already in use; stop what uses it or choose "
                    f"another port with {setting}."
                ) from None


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports. The sockets stay bound until all are chosen: asking
    one at a time can hand back the same port twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def url_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own loopback URL
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Supervisor:
    def __init__(
        self,
        services: Sequence[Service],
        *,
        cwd: Path,
        base_env: dict[str, str],
        out: IO[str] = sys.stdout,
        log_file: Path | None = None,
    ) -> None:
        self.services = list(services)
        self.cwd = cwd
        self.base_env = base_env
        self.out = out
        self.log_file = log_file
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._width = max(len(s.name) for s in self.services)
        self._colour = out.isatty() and not os.environ.get("NO_COLOR")
        self._log_fh: IO[str] | None = None

    def _emit(self, name: str, line: str) -> None:
        idx = [s.name for s in self.services].index(name) if name in self.procs else -1
        prefix = f"{name:>{self._width}} | "
        if self._colour and idx >= 0:
            prefix = COLOURS[idx % len(COLOURS)] + prefix + RESET
        self.out.write(prefix + line + "\n")
        self.out.flush()
        if self._log_fh is not None:
            self._log_fh.write(f"{name:>{self._width}} | {line}\n")
            self._log_fh.flush()

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        if self._log_fh is not None:
            self._log_fh.write(line + "\n")
            self._log_fh.flush()

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            self._emit(name, raw.decode("utf-8", errors="replace").rstrip())

    async def start(self) -> None:
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_fh = open(self.log_file, "a", encoding="utf-8")
        for svc in self.services:
            proc = await asyncio.create_subprocess_exec(
                *svc.argv,
                cwd=self.cwd,
                env={**self.base_env, **svc.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=1 << 20,
            )
            self.procs[svc.name] = proc
            assert proc.stdout is not None
            self._pumps.append(asyncio.create_task(self._pump(svc.name, proc.stdout)))

    async def wait_ready(self) -> None:
        """Poll each service's readiness URL; fail if one exits or times out first."""
        pending = {s.name: s for s in self.services if s.ready_url}
        started = time.monotonic()
        while pending:
            for name in list(pending):
                proc = self.procs[name]
                if proc.returncode is not None:
                    raise SupervisorError(
                        f"{name} exited with code {proc.returncode} before it was ready; "
                        "its last lines are above."
                    )
                if await asyncio.to_thread(url_ready, pending[name].ready_url or ""):
                    del pending[name]
                elif time.monotonic() - started > pending[name].ready_timeout:
                    raise SupervisorError(
                        f"{name} did not become ready within {pending[name].ready_timeout:.0f} s."
                    )
            if pending:
                await asyncio.sleep(0.5)

    async def wait_any_exit(self, stop: asyncio.Event) -> str | None:
        """Return the name of the first child to exit, or None if `stop` was set first."""
        waits = {asyncio.create_task(p.wait()): n for n, p in self.procs.items()}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in [*waits, stopper]:
            if task not in done:
                task.cancel()
        if stopper in done:
            return None
        return next(waits[t] for t in done if t in waits)

    async def stop(self) -> None:
        """SIGTERM every child (reverse start order), then SIGKILL what is left after the grace."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, proc in self.procs.items():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.wait_for(proc.wait(), remaining)
            except TimeoutError:
                self.say(f"{name} did not stop within {GRACE_SECONDS:.0f} s; killing it.")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for task in self._pumps:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 2)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None


async def supervise(
    supervisor: Supervisor, on_ready: Callable[[], None], *, install_signals: bool = True
) -> int:
    """Start everything, call `on_ready`, and run until Ctrl-C/SIGTERM or a child dies."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        await supervisor.start()
        ready = asyncio.create_task(supervisor.wait_ready())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([ready, stopper], return_when=asyncio.FIRST_COMPLETED)
        if ready in done:
            stopper.cancel()
            ready.result()  # raises SupervisorError if a service failed
            on_ready()
            failed = await supervisor.wait_any_exit(stop)
            if failed is not None:
                supervisor.say(f"{failed} stopped unexpectedly; shutting the others down.")
                code = 1
        else:
            ready.cancel()
    except SupervisorError as exc:
        supervisor.say(f"Error: {exc}")
        code = 1
    finally:
        supervisor.say("Stopping Interlude ...")
        await supervisor.stop()
        supervisor.say("Stopped.")
    return code
