"""`make bench`: Interlude with 1 and then 2 Rasa replicas on PostgreSQL + Redis, 50 patients x
20 messages each, sent at once through the web chat and the local channel (half each, both at
the same time for every patient), via the web app as browsers and the terminal client reach it.

Prints throughput for each, and checks what tests/integration/test_replicas.py checks with a
few patients: nothing lost, and every conversation's stored events in order, turns never
interleaved. Exits non-zero if a check fails.

  python -m bot.bench_replicas [--patients 50] [--messages 20] [--replicas 1,2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ADMIN_URL = os.environ.get("INTERLUDE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_once(n: int, patients: int, messages: int, folder: Path) -> tuple[float, float, list[str]]:
    """One stack with n replicas; returns (seconds, msg/s, problems)."""
    from bot.bench_compare import scratch_postgres
    from bot.runtime import Store
    from tests.integration.replica_traffic import converse, enrol, order_problems, start_replicas

    with scratch_postgres(ADMIN_URL) as url:
        data = folder / f"data-{n}"
        data.mkdir()
        stack = start_replicas(data, folder / f"console-{n}.log", url, n)
        store = Store.open(url, data, environ={})
        try:
            people = enrol(store, patients)
            warm = enrol(store, 2)  # first messages load lazily in each replica: not measured
            converse(stack, warm, 4)
            seconds = converse(stack, people, messages)
            problems = [f"{p.ref}: {msg}" for p in people for msg in order_problems(store, p)]
        finally:
            store.core.close()
            stack.stop()
        log = (data / "logs" / "interlude.log").read_text(encoding="utf-8")
        for bad in ("changed while a message was handled", "LockError"):
            if bad in log:
                problems.append(f"the log holds {bad!r}")
    return seconds, patients * messages / seconds, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20, help="per patient, half per channel")
    parser.add_argument("--replicas", default="1,2", help="comma-separated replica counts")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.replicas.split(",")]
    total = args.patients * args.messages
    print(
        f"Replicas on PostgreSQL + Redis: {args.patients} patients x {args.messages} messages "
        f"({total}), web chat and local channel at once, through the web app; "
        f"{os.cpu_count()} CPU cores (shared: other work runs on them too).",
        flush=True,
    )
    results = {}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            seconds, rate, problems = run_once(n, args.patients, args.messages, Path(tmp))
            results[n] = (seconds, rate)
            verdict = "nothing lost, every conversation in order" if not problems else "PROBLEMS"
            print(
                f"  {n} replica(s): {total} messages in {seconds:.1f} s, {rate:.1f} msg/s; {verdict}",
                flush=True,
            )
            for p in problems[:20]:
                print(f"    {p}")
            failed = failed or bool(problems)
    if 1 in results and 2 in results:
        print(f"  2 replicas / 1 replica throughput: x{results[2][1] / results[1][1]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  # this process never trains
    sys.exit(main())
