"""`make bench`: performance figures, printed, never asserted in tests.

Detector latency per message with both layers, rules and semantic (goal: p95 <= 5 ms), over short
messages, long journal entries and a 5,000-character entry (goal <= 100 ms); memory per process.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time

SHORT = [
    "mood 7, slept ok",
    "I want to kill myself",
    "i can't go on like this",
    "During the session I felt like I was dying and then reborn",
    "I took an extra troche and had some wine",
    "it burns when I pee",
    "my friend says she wants to kill herself",
    "had a lovely walk with my sister today, felt calm and grounded",
    "nobody would miss me",
    "I'm killing it at work",
]
LONG = ("Today was a gentle day. I noticed the light on the water and felt calm. " * 60) + (
    "Honestly though I keep thinking about ending my life. " + "Then I made soup. " * 40
)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def _rss_mb() -> float:
    """Resident memory of this process (Linux), in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_detector(rounds: int = 200) -> None:
    from bot.safety.service import default_detector, rules_detector

    before = _rss_mb()
    rules_detector()
    rules_mb = _rss_mb() - before
    t0 = time.perf_counter()
    detector = default_detector()  # rules + semantic layer (the one every path uses)
    load = time.perf_counter() - t0
    print(
        f"memory added per process: rules {rules_mb:.0f} MB, "
        f"semantic layer {_rss_mb() - before - rules_mb:.0f} MB"
    )
    entry = ("Today was a gentle day and I noticed the light on the water. " * 90)[:4950] + (
        " I want to die."
    )
    for text in SHORT:  # warm caches
        detector.assess(text)
    # Wall time, and this process's CPU time: on a shared machine (load above the core count)
    # the wall time mostly measures waiting for a core; the CPU time is what a quiet box would see.
    short_ms, short_cpu = [], []
    for _ in range(rounds):
        for text in SHORT:
            t, c = time.perf_counter(), time.process_time()
            detector.assess(text)
            short_ms.append((time.perf_counter() - t) * 1000)
            short_cpu.append((time.process_time() - c) * 1000)
    long_ms, long_cpu = [], []
    for _ in range(max(20, rounds // 10)):
        t, c = time.perf_counter(), time.process_time()
        detector.assess(LONG)
        long_ms.append((time.perf_counter() - t) * 1000)
        long_cpu.append((time.process_time() - c) * 1000)
    entry_ms, entry_cpu = [], []
    for _ in range(20):
        t, c = time.perf_counter(), time.process_time()
        detector.assess(entry)
        entry_ms.append((time.perf_counter() - t) * 1000)
        entry_cpu.append((time.process_time() - c) * 1000)
    print(f"detector load (semantic layer, rules already loaded): {load:.2f} s")
    print(
        f"detector, short messages (n={len(short_ms)}): p50 {_pct(short_ms, 50):.2f} ms, "
        f"p95 {_pct(short_ms, 95):.2f} ms, p99 {_pct(short_ms, 99):.2f} ms, "
        f"mean {statistics.mean(short_ms):.2f} ms   (goal p95 <= 5 ms)"
    )
    print(
        f"detector, {len(LONG):,}-character entries (n={len(long_ms)}): "
        f"p50 {_pct(long_ms, 50):.1f} ms, p95 {_pct(long_ms, 95):.1f} ms"
    )
    print(
        f"detector, a {len(entry):,}-character entry (n={len(entry_ms)}): p50 {_pct(entry_ms, 50):.1f} ms, "
        f"p95 {_pct(entry_ms, 95):.1f} ms   (goal <= 100 ms)"
    )
    print(
        f"  CPU time: short p50 {_pct(short_cpu, 50):.2f} ms, p95 {_pct(short_cpu, 95):.2f} ms; "
        f"{len(LONG):,}-character p50 {_pct(long_cpu, 50):.1f} ms; "
        f"{len(entry):,}-character p50 {_pct(entry_cpu, 50):.1f} ms, p95 {_pct(entry_cpu, 95):.1f} ms"
    )


def bench_message_to_alert(n: int = 40) -> None:
    """Risk message in (terminal channel) to alert received (webhook on loopback), through the
    real stack: Rasa, the action server, the database outbox and the escalation worker."""
    import tempfile
    from pathlib import Path

    import yaml

    from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
    from bot.runtime import Store
    from tests.integration.stack import start_stack  # dev tooling: reuses the test harness
    from tests.peers.webhook import WebhookReceiver

    with tempfile.TemporaryDirectory() as tmp, WebhookReceiver() as hook:
        data = Path(tmp) / "data"
        data.mkdir()
        (data / "alerts.yml").write_text(
            yaml.safe_dump(
                {
                    "clinics": {
                        DEMO_CLINIC_SLUG: {
                            "webhook": {"url": hook.hook_url, "secret_env": "BENCH_WEBHOOK_SECRET"}
                        }
                    }
                }
            )
        )
        secret = {"BENCH_WEBHOOK_SECRET": secrets.token_hex(16)}
        stack = start_stack(data, Path(tmp) / "console.log", **secret)
        try:
            store = Store.open(stack.settings.database_url, data, environ={})
            clinic = store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
            staff = store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
            refs = [
                store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="B").ref
                for _ in range(n)
            ]
            latencies = []
            for ref in refs:
                seen = len(hook.requests)
                t0 = time.perf_counter()
                stack.say(ref, "I want to kill myself")
                while not any(ref.encode() in b for _, b in hook.requests[seen:]):
                    if time.perf_counter() - t0 > 30:
                        raise RuntimeError(f"no alert for {ref} within 30 s")
                    time.sleep(0.005)
                latencies.append((time.perf_counter() - t0) * 1000)
            store.core.close()
        finally:
            stack.stop()
    print(
        f"message to alert delivered (n={n}, sequential): p50 {_pct(latencies, 50):.0f} ms, "
        f"p95 {_pct(latencies, 95):.0f} ms, p99 {_pct(latencies, 99):.0f} ms, "
        f"max {max(latencies):.0f} ms   (goal p99 <= 2000 ms)"
    )


def main() -> int:
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]  # not needed here
    bench_detector()
    if "--detector-only" not in sys.argv:
        bench_message_to_alert()
    return 0


if __name__ == "__main__":
    sys.exit(main())
