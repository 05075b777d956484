"""`make bench`, part two: Interlude beside the stock `rasa init` bot, in one run, one table.

Both run on this machine with the same Rasa: the stock bot (trained once into build/bench/,
cached by Rasa version) through its REST channel, Interlude (the test model) through its local
channel, the way `interlude chat` talks to it. Blocks alternate (stock, Interlude, stock, ...)
so that a busy machine weighs on both alike. Everything is on loopback and every loop is
bounded. Figures are printed against the targets of issue 18, never asserted.

    python -m bot.bench_compare [--rounds N] [--messages N] [--long N] [--postgres [ADMIN_URL]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.supervisor import free_port

STOCK_DIR = PROJECT_ROOT / "build" / "bench"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# What each bot is sent: a short exchange each understands, repeated.
DAY = 12  # messages a day in the long conversation: two whole check-ins
STOCK_SCRIPT = ["hello", "I am sad", "yes", "great", "bye"]
INTERLUDE_SCRIPT = ["hi", "check in", "6", "3", "7", "a quiet day, some walking"]


def _rasa() -> str:
    candidate = Path(sys.executable).with_name("rasa")
    return str(candidate) if candidate.exists() else "rasa"


def _env() -> dict[str, str]:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def ensure_stock_bot(log: Callable[[str], None] = print) -> Path:
    """The stock `rasa init --no-prompt` project, trained once per Rasa version."""
    folder = STOCK_DIR / f"stock-rasa-{metadata.version('rasa')}"
    models = folder / "models"
    if models.is_dir() and any(models.glob("*.tar.gz")):
        return folder
    log(f"Training the stock `rasa init` bot once into {folder} ...")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with open(folder.parent / f"{folder.name}.train.log", "w", encoding="utf-8") as out:
        subprocess.run(
            [_rasa(), "init", "--no-prompt", "--init-dir", str(folder)],
            cwd=folder,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    if not any(models.glob("*.tar.gz")):
        raise RuntimeError(f"`rasa init` trained no model in {models}")
    return folder


# ---------------------------------------------------------------------------------- processes
def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        out += [int(c) for c in children]
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            todo += _children(p)
        except OSError:
            pass
    return pids


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def _name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    joined = " ".join(words)
    for key, label in (
        ("serve rasa", "rasa"),
        ("serve actions", "actions"),
        ("uvicorn", "web"),
        ("bot.workers escalation", "worker"),
        ("bot.workers scheduler", "scheduler"),
        ("bot.cli run", "supervisor"),
        (" run ", "rasa"),
    ):
        if key in joined:
            return label
    return Path(words[0]).name if words else "?"


@dataclass
class Target:
    label: str
    send: Callable[[str, str], None]  # (sender, text)
    root_pid: int
    rasa_pid: int
    script: list[str]
    new_sender: Callable[[], str]
    latencies: dict[int, list[float]] = field(default_factory=dict)
    rates: dict[int, list[float]] = field(default_factory=dict)
    cpu_ms: list[float] = field(default_factory=list)
    rasa_cpu_ms: list[float] = field(default_factory=list)

    def memory(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid in _tree(self.root_pid):
            out[_name(pid)] = out.get(_name(pid), 0.0) + _rss_mb(pid)
        return out


def _post(url: str, body: dict, headers: dict[str, str] | None = None) -> None:
    req = urllib.request.Request(  # noqa: S310 - loopback only
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
        resp.read()


def run_block(target: Target, concurrency: int, per_user: int) -> None:
    """`concurrency` users, each a fresh conversation sending `per_user` messages in turn."""
    senders = [target.new_sender() for _ in range(concurrency)]
    latencies: list[float] = []
    lock = threading.Lock()

    def user(sender: str) -> None:
        for i in range(per_user):
            t = time.perf_counter()
            target.send(sender, target.script[i % len(target.script)])
            with lock:
                latencies.append((time.perf_counter() - t) * 1000)

    pids = _tree(target.root_pid)
    cpu0, rasa0 = sum(_cpu_seconds(p) for p in pids), _cpu_seconds(target.rasa_pid)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(s,)) for s in senders]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    n = concurrency * per_user
    cpu1, rasa1 = sum(_cpu_seconds(p) for p in pids), _cpu_seconds(target.rasa_pid)
    target.latencies.setdefault(concurrency, []).extend(latencies)
    target.rates.setdefault(concurrency, []).append(n / wall)
    target.cpu_ms.append((cpu1 - cpu0) * 1000 / n)
    target.rasa_cpu_ms.append((rasa1 - rasa0) * 1000 / n)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


# ---------------------------------------------------------------------------------- the two bots
def start_stock(folder: Path, console: Path) -> tuple[subprocess.Popen, Target]:
    port = free_port()
    proc = subprocess.Popen(
        [_rasa(), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", "models"],
        cwd=folder,
        env=_env(),
        stdout=open(console, "w", encoding="utf-8"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"{url}/status", timeout=2).read()  # noqa: S310
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stock bot did not start; see {console}") from None
            time.sleep(1)
    counter = iter(range(10**9))

    def send(sender: str, text: str) -> None:
        _post(f"{url}/webhooks/rest/webhook", {"sender": sender, "message": text})

    return proc, Target(
        "stock rasa init",
        send,
        proc.pid,
        proc.pid,
        STOCK_SCRIPT,
        lambda: f"stock-{next(counter)}",
    )


def start_interlude(data: Path, console: Path, database_url: str | None = None):  # type: ignore[no-untyped-def]
    from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
    from bot.runtime import Store
    from tests.integration.stack import start_stack  # dev tooling: reuses the test harness

    extra = {"INTERLUDE_DATABASE_URL": database_url} if database_url else {}
    stack = start_stack(data, console, **extra)
    store = Store.open(stack.settings.database_url, data, environ={})
    clinic = store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
    staff = store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)

    def new_sender() -> str:
        ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="Bench").ref
        store.patients.record_consent(ref, "bench")
        return ref

    headers = {"Authorization": f"Bearer {stack.settings.api_token}"}

    def send(sender: str, text: str) -> None:
        _post(
            f"{stack.settings.rasa_url}/webhooks/local/webhook", {"sender": sender, "message": text}, headers
        )

    rasa_pid = next(p for p in _tree(stack.proc.pid) if _name(p) == "rasa")
    target = Target("Interlude", send, stack.proc.pid, rasa_pid, INTERLUDE_SCRIPT, new_sender)
    return stack, store, target


def long_conversation(
    target: Target, messages: int, day: int, age: Callable[[str], None] | None
) -> dict[int, float]:
    """One patient's conversation of `messages` messages; with `age`, a day (a new Rasa session)
    passes every `day` messages, `day` being whole script cycles so that every day is the same
    dialogue. Returns, for the first and the last day (or cycle), the mean latency of its
    messages after the first (which may open a session), keyed by the day's last message number."""
    sender = target.new_sender()
    lat: list[float] = []
    for i in range(messages):
        if age is not None and i and i % day == 0:
            age(sender)
        t = time.perf_counter()
        target.send(sender, target.script[i % len(target.script)])
        lat.append((time.perf_counter() - t) * 1000)
    span = day or len(target.script)
    last = messages - messages % span
    return {n: statistics.fmean(lat[n - span + 1 : n]) for n in (span, last)}


def age_session(store, seconds: float) -> Callable[[str], None]:  # type: ignore[no-untyped-def]
    """Move a conversation's current session back in time, as if the patient went quiet.

    The rows are also renumbered past their old seq (order kept), so that a Rasa server holding
    the conversation in memory sees the change, as it would see a new event."""
    from sqlalchemy import func, select

    from bot.store.models import RasaEvent

    def age(ref: str) -> None:
        with store.core.factory() as s:
            current = s.execute(
                select(func.max(RasaEvent.session_no)).where(RasaEvent.sender_id == ref)
            ).scalar_one()
            rows = (
                s.execute(
                    select(RasaEvent)
                    .where(RasaEvent.sender_id == ref, RasaEvent.session_no == current)
                    .order_by(RasaEvent.seq.desc())
                )
                .scalars()
                .all()
            )
            for row in rows:  # newest first, so that no two rows ever share a seq
                event = json.loads(store.vault.decrypt_conversation(ref, row.data.removeprefix("enc1:")))
                event["timestamp"] -= seconds
                row.timestamp = event["timestamp"]
                row.data = "enc1:" + store.vault.encrypt_conversation(ref, json.dumps(event))
                row.seq += len(rows)
                s.flush()
            s.commit()

    return age


# ---------------------------------------------------------------------------------- the table
def print_table(stock: Target, ours: Target, long_figures: dict[str, tuple], mem: dict) -> None:
    def row(name: str, a: str, b: str, ratio: str = "") -> None:
        print(f"{name:<44} {a:>16} {b:>16} {ratio:>14}")

    print()
    row("", stock.label, ours.label, "ratio")
    for c in sorted(ours.latencies):
        s_l, o_l = stock.latencies[c], ours.latencies[c]
        for p in (50, 95, 99):
            s_v, o_v = _pct(s_l, p), _pct(o_l, p)
            row(f"c={c} p{p} latency", f"{s_v:.0f} ms", f"{o_v:.0f} ms", f"x{o_v / s_v:.2f}")
        s_r, o_r = statistics.median(stock.rates[c]), statistics.median(ours.rates[c])
        row(f"c={c} throughput", f"{s_r:.1f} msg/s", f"{o_r:.1f} msg/s", f"x{o_r / s_r:.2f}")
    s_cpu, o_cpu = statistics.median(stock.rasa_cpu_ms), statistics.median(ours.rasa_cpu_ms)
    row("Rasa server CPU per message", f"{s_cpu:.0f} ms", f"{o_cpu:.0f} ms", f"x{o_cpu / s_cpu:.2f}")
    s_all, o_all = statistics.median(stock.cpu_ms), statistics.median(ours.cpu_ms)
    row("all processes CPU per message", f"{s_all:.0f} ms", f"{o_all:.0f} ms", f"x{o_all / s_all:.2f}")
    s_mem, o_mem = mem[stock.label], mem[ours.label]
    row("memory, whole stack (idle)", f"{sum(s_mem.values()):.0f} MB", f"{sum(o_mem.values()):.0f} MB")
    for name in sorted(set(s_mem) | set(o_mem)):
        a = f"{s_mem[name]:.0f} MB" if name in s_mem else "-"
        b = f"{o_mem[name]:.0f} MB" if name in o_mem else "-"
        row(f"  memory, {name}", a, b)
    for label, (theirs, mine) in long_figures.items():
        for i, n in enumerate(sorted(mine)):
            a = f"{theirs[sorted(theirs)[i]]:.0f} ms" if theirs else "-"
            name = (
                f"{label}: first {'day' if 'day' in label else 'cycle'}"
                if i == 0
                else f"{label}: up to msg {n}"
            )
            ratio = f"x{mine[n] / mine[min(mine)]:.2f} of first" if i else ""
            row(name, a, f"{mine[n]:.0f} ms", ratio)
    print()
    print(
        "targets (issue 18): p95 at c=1 and c=8 <= x1.5 of stock, throughput >= x0.7; "
        "the 500th message <= x1.2 the 10th; whole stack <= 1800 MB idle, action server <= 250 MB"
    )


def main(argv: list[str] | None = None) -> int:
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  # this process needs none
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--messages", type=int, default=30, help="messages per user per block")
    parser.add_argument("--long", type=int, default=504, help="length of the long conversation")
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/postgres",
        help="run Interlude on a scratch PostgreSQL database made (and dropped) through ADMIN_URL",
    )
    args = parser.parse_args(argv)
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            return run(args, url)
    return run(args, None)


@contextlib.contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    import secrets

    import psycopg2

    name = "interlude_bench_" + secrets.token_hex(4)
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def run(args: argparse.Namespace, database_url: str | None) -> int:
    print(f"Interlude's database: {'PostgreSQL' if database_url else 'SQLite'}", flush=True)

    folder = ensure_stock_bot()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        stock_proc, stock = start_stock(folder, Path(tmp) / "stock.log")
        stack = store = None
        try:
            stack, store, ours = start_interlude(data, Path(tmp) / "interlude.log", database_url)
            for t in (stock, ours):  # warm up: first messages load lazily
                run_block(t, 1, 6)
                t.latencies.clear(), t.rates.clear(), t.cpu_ms.clear(), t.rasa_cpu_ms.clear()
            time.sleep(3)
            mem = {t.label: t.memory() for t in (stock, ours)}
            for r in range(args.rounds):
                for c in (1, 8):
                    for t in (stock, ours) if r % 2 == 0 else (ours, stock):
                        run_block(t, c, args.messages if c == 1 else max(5, args.messages // 3))
                print(f"round {r + 1}/{args.rounds} done", flush=True)
            long_figures = {
                f"a session a day ({DAY} msgs/day)": (
                    None,
                    long_conversation(ours, args.long, DAY, age_session(store, 7 * 3600)),
                ),
                "one session": (
                    long_conversation(stock, min(args.long, 150), 0, None),
                    long_conversation(ours, min(args.long, 150), 0, None),
                ),
            }
            print_table(stock, ours, long_figures, mem)
        finally:
            if store is not None:
                store.core.close()
            if stack is not None:
                stack.stop()
            if stock_proc.poll() is None:
                os.killpg(stock_proc.pid, signal.SIGINT)
                try:
                    stock_proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(stock_proc.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
