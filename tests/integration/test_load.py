"""Concurrent load on SQLite through Rasa + the action server: no lock errors, nothing lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration

PATIENTS = 20
# a whole daily check-in is 5 messages; 2 rounds per patient, 20 patients: 200 in all
SCRIPT = ["check in", "6", "4", "7", "load test note"]


def test_200_concurrent_messages_on_sqlite(stack, stack_store, new_patient):
    refs = [new_patient() for _ in range(PATIENTS)]
    rounds = 2  # 20 patients x 5 messages x 2 rounds = 200 messages

    def converse(ref: str) -> list[str]:
        client = stack.client(ref)
        texts = []
        for _ in range(rounds):
            for msg in SCRIPT:
                texts.append(" ".join(r.get("text", "") for r in client.send(msg)))
        return texts

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(converse, refs))
    elapsed = time.monotonic() - started
    sent = PATIENTS * rounds * len(SCRIPT)
    print(
        f"\n{sent} messages from {PATIENTS} patients, 10 at a time: {elapsed:.1f} s "
        f"({sent / elapsed:.1f} msg/s)"
    )

    assert sum(len(r) for r in results) == sent == 200
    for ref, texts in zip(refs, results, strict=True):
        assert sum("mood 6/10" in t for t in texts) == rounds, texts
        answers = stack_store.checkins.list_answers(ref, actor="test", origin="load")
        assert [a.value for a in answers if a.prompt_key == "mood"] == [6.0] * rounds
    log = (stack.settings.data_dir / "logs" / "interlude.log").read_text(encoding="utf-8")
    assert "database is locked" not in log
    assert "Traceback" not in log
