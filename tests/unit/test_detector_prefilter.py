"""The anchored matching (each pattern matched only near its rarest words) gives exactly what
matching every pattern over the whole text gives: the speed-up must never drop a rule match."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from bot.safety.detector import Detector
from bot.safety.examples import example_paths, load_examples

SAFETY = Path(__file__).resolve().parents[1] / "safety"


@pytest.fixture(scope="module")
def pair() -> tuple[Detector, Detector]:
    fast = Detector.from_files()
    return fast, Detector(fast.lexicon, prefilter=False)


@functools.lru_cache(maxsize=1)
def _labelled_texts() -> tuple[str, ...]:
    texts = [e.text for e in load_examples(example_paths())]
    for path in [
        SAFETY / "dev_set.jsonl",
        SAFETY / "holdout_set.jsonl",
        *sorted((SAFETY / "blind").glob("*.jsonl")),
    ]:
        texts += [
            json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    return texts


def test_same_assessment_on_labelled_texts_in_long_entries(pair):
    """Labelled examples inside long entries (40 at a time, as sentences or as lines), so that
    matches sit at every distance from the windows' edges. A sample, to keep the suite fast:
    every example was compared once when this was written (see tests/safety/README.md)."""
    fast, ref = pair
    texts = _labelled_texts()
    assert len(texts) > 4000
    for n, i in enumerate(range(0, len(texts), 40 * 32)):
        chunk = texts[i : i + 40]
        entry = (" " if n % 2 else "\n").join(chunk)
        assert fast.assess(entry).to_dict() == ref.assess(entry).to_dict(), entry[:200]


def test_same_assessment_on_short_messages(pair):
    fast, ref = pair
    for text in _labelled_texts()[::80]:
        assert fast.assess(text).to_dict() == ref.assess(text).to_dict(), text


def test_a_match_at_either_end_of_a_long_entry_is_found(pair):
    fast, ref = pair
    filler = "Today was a gentle day and I noticed the light on the water. " * 80
    for entry in (
        "i cant go on like this. " + filler,
        filler + "i took 20 of my tablets",
        filler + "im fine",
    ):
        got = fast.assess(entry)
        assert got.to_dict() == ref.assess(entry).to_dict()
    assert fast.assess("i cant go on like this. " + filler).severity == "moderate"
    assert fast.assess(filler + "i took 20 of my tablets").severity == "critical"
