"""Run several processes as one: prefixed logs, readiness checks, restarts, clean shutdown.

Children run in their own sessions (process groups), so Ctrl-C reaches only the supervisor,
which then stops them in order (SIGTERM, then SIGKILL after a grace period).

- A child that dies after start-up is restarted with exponential backoff while the others keep
  serving; its readiness URL is checked again and the time until it answers is logged.
- A crash loop (RESTART_LIMIT restarts of one child within RESTART_WINDOW seconds) gives up with
  one sentence and stops everything cleanly: restarting faster would not help.
- Children never outlive the supervisor: each asks the kernel (Linux PR_SET_PDEATHSIG, set in
  the child before exec) to be killed when the supervisor dies, even by SIGKILL. They also
  inherit the data-folder lock, so while any of them lives no second run can use the folder.
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
#: Crash-loop limit: this many restarts of one child within the window, and we give up.
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
#: Backoff before restart n (1-based) within the window: BASE * 2**(n-1), capped.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
PR_SET_PDEATHSIG = 1
#: How long to wait for the processes of a run that was killed a moment ago to finish exiting.
STALE_WAIT_SECONDS = 10.0
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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def lock_holders(path: Path) -> list[int]:
    """Pids of processes that have `path` open (Linux /proc), for explaining a held lock."""
    pids = []
    target = str(path.resolve())
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        pids.append(int(fd_dir.parent.name))
                        break
        except OSError:
            continue
    return sorted(p for p in pids if p != os.getpid())


class RunLock:
    """An exclusive lock on the data folder, so two runs never share one database.

    The file holds the supervisor's pid. The kernel drops the lock when the last process that
    holds it exits, so a lock left by a hard-killed run is detected (the pid is gone) and
    explained rather than trusted; children inherit the lock, so a run whose supervisor was
    killed while its processes live on still refuses a second run.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "interlude.lock"
        self._fh: IO[str] | None = None
        #: Set by acquire() when the previous run did not stop cleanly (one sentence).
        self.stale_note: str | None = None

    @property
    def fd(self) -> int | None:
        return self._fh.fileno() if self._fh is not None else None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        fh.seek(0)
        previous = fh.read().strip()
        deadline = time.monotonic() + STALE_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    fh.close()
                    raise
                # The run that holds it is gone: its last processes may still be exiting
                # (killed with it a moment ago). Wait a little before refusing.
                dead = previous.isdigit() and not pid_alive(int(previous))
                if not dead or time.monotonic() > deadline:
                    fh.close()
                    raise SupervisorError(self._held_message(previous)) from None
                time.sleep(0.1)
        if previous.isdigit() and int(previous) != os.getpid():
            # The lock was free but names a run: it ended without releasing (SIGKILL, power loss).
            self.stale_note = (
                f"The previous Interlude run (pid {previous}) did not stop cleanly; its lock on "
                f"{self.path.parent} was stale (that process is gone) and is taken over."
            )
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def _held_message(self, previous: str) -> str:
        if previous.isdigit() and not pid_alive(int(previous)):
            holders = lock_holders(self.path)
            pids = " ".join(map(str, holders))
            who = f" (pids {pids})" if holders else ""
            return (
                f"The previous Interlude run (pid {previous}) is gone but processes it started"
                f"{who} still use {self.path.parent}; stop them first (kill {pids or 'them'})."
            )
        return (
            f"Interlude is already running with this data folder ({self.path.parent}, "
            f"pid {previous or 'unknown'}); stop it first or set INTERLUDE_DATA_DIR to another folder."
        )

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.seek(0)
                self._fh.truncate()  # a clean stop leaves no pid behind
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


def _death_signal_setter(parent: int) -> Callable[[], None] | None:
    """A preexec function asking the kernel to SIGKILL the child when `parent` dies (Linux).

    libc is resolved here, before fork, so the child only makes one system call. If the parent
    died between fork and prctl, the child exits at once instead of running orphaned."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return set_death_signal


def backoff_delay(restarts_in_window: int) -> float:
    """Seconds to wait before the n-th restart of a child within the crash window."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, restarts_in_window - 1))


class CrashLoop(SupervisorError):
    pass


class Supervisor:
    def __init__(
        self,
        services: Sequence[Service],
        *,
        cwd: Path,
        base_env: dict[str, str],
        out: IO[str] = sys.stdout,
        log_file: Path | None = None,
        lock: RunLock | None = None,
    ) -> None:
        self.services = list(services)
        self.cwd = cwd
        self.base_env = base_env
        self.out = out
        self.log_file = log_file
        self.lock = lock
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        #: Monotonic times of each child's restarts (for the crash-loop window and reports).
        self.restarts: dict[str, list[float]] = {}
        #: Seconds from noticing a child's death until it answered its readiness URL again.
        self.recovery_times: dict[str, list[float]] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._width = max(len(s.name) for s in self.services)
        self._colour = out.isatty() and not os.environ.get("NO_COLOR")
        self._log_fh: IO[str] | None = None
        self._stopping = False

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
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: keep going, never crash the pump
                raw = b"[a very long line was cut]"
            if not raw:
                return
            self._emit(name, raw.decode("utf-8", errors="replace").rstrip())

    async def _spawn(self, svc: Service) -> asyncio.subprocess.Process:
        pass_fds = (self.lock.fd,) if self.lock is not None and self.lock.fd is not None else ()
        proc = await asyncio.create_subprocess_exec(
            *svc.argv,
            cwd=self.cwd,
            env={**self.base_env, **svc.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_setter(os.getpid()),
            pass_fds=pass_fds,
            limit=1 << 20,
        )
        self.procs[svc.name] = proc
        assert proc.stdout is not None
        self._pumps.append(asyncio.create_task(self._pump(svc.name, proc.stdout)))
        return proc

    async def start(self) -> None:
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_fh = open(self.log_file, "a", encoding="utf-8")
        for svc in self.services:
            await self._spawn(svc)

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

    async def _sleep_unless(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep; True if `stop` was set meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    async def _restart(self, svc: Service, stop: asyncio.Event) -> None:
        """Restart one child after its death, with backoff; raise CrashLoop past the limit."""
        died = time.monotonic()
        code = self.procs[svc.name].returncode
        history = [t for t in self.restarts.get(svc.name, []) if died - t < RESTART_WINDOW]
        if len(history) >= RESTART_LIMIT:
            raise CrashLoop(
                f"{svc.name} keeps crashing ({len(history) + 1} exits within {RESTART_WINDOW:.0f} s, "
                f"last exit code {code}); giving up and stopping Interlude, see its last lines above."
            )
        history.append(died)
        self.restarts[svc.name] = history
        delay = backoff_delay(len(history))
        self.say(
            f"{svc.name} stopped unexpectedly (exit code {code}); restarting it in {delay:.1f} s "
            f"(restart {len(history)} of at most {RESTART_LIMIT} within {RESTART_WINDOW:.0f} s); "
            "the other processes keep serving."
        )
        if await self._sleep_unless(stop, delay):
            return
        proc = await self._spawn(svc)
        if not svc.ready_url:
            self.say(f"{svc.name} restarted (pid {proc.pid}).")
            self.recovery_times.setdefault(svc.name, []).append(time.monotonic() - died)
            return
        deadline = time.monotonic() + svc.ready_timeout
        while not stop.is_set() and proc.returncode is None:
            if await asyncio.to_thread(url_ready, svc.ready_url):
                took = time.monotonic() - died
                self.recovery_times.setdefault(svc.name, []).append(took)
                self.say(f"{svc.name} is ready again (pid {proc.pid}), {took:.1f} s after it stopped.")
                return
            if time.monotonic() > deadline:
                self.say(f"{svc.name} did not become ready within {svc.ready_timeout:.0f} s; restarting it.")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return  # its exit is noticed by run_forever and counts towards the limit
            await self._sleep_unless(stop, 0.25)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep every child running until `stop` is set; raise CrashLoop on a crash loop.

        Each child is watched on its own, so one restarting never delays another's."""
        by_name = {s.name: s for s in self.services}

        async def watch(name: str) -> None:
            while not stop.is_set():
                waiter = asyncio.create_task(self.procs[name].wait())
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
                for task in (waiter, stopper):
                    if task not in done:
                        task.cancel()
                if stop.is_set() or self._stopping:
                    return
                await self._restart(by_name[name], stop)

        watchers = [asyncio.create_task(watch(n)) for n in by_name]
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def stop(self) -> None:
        """SIGTERM every child (reverse start order), then SIGKILL what is left after the grace."""
        self._stopping = True
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
    """Start everything, call `on_ready`, and run until Ctrl-C/SIGTERM or a crash loop."""
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
            await supervisor.run_forever(stop)
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
