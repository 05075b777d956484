"""The semantic risk layer: sentence units, the combination with the rules, the model cache,
and the explanation a flag carries."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.safety.assessment import SEVERITIES, Assessment, RuleHit, rank
from bot.safety.combined import CombinedDetector, combine
from bot.safety.detector import DEFAULT_LEXICON
from bot.safety.examples import DEFAULT_EXAMPLES, ExamplesError, load_examples
from bot.safety.normalize import normalize
from bot.safety.semantic import MODERATE_CONFIDENT, embed, ensure_semantic_model, fingerprint, unit_ranks
from bot.safety.sentences import assessment_units, split_sentences
from bot.safety.service import default_detector, rules_detector


def _texts(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[a:b] for a, b in spans]


def test_sentences_split_on_stops_questions_ellipses_and_line_breaks():
    text = "Today was lovely. Did I eat?! yes...\nhonestly i want to die\n\n  :)  ok"
    assert _texts(text, split_sentences(text)) == [
        "Today was lovely.",
        "Did I eat?!",
        "yes...",
        "honestly i want to die",
        ":)  ok",
    ]
    assert split_sentences("") == [] and split_sentences("  \n ") == []
    assert _texts("no stops at all here", split_sentences("no stops at all here")) == ["no stops at all here"]


def test_units_are_the_whole_each_sentence_and_windows_of_a_run_on_sentence():
    entry = "A calm day. " * 3 + "I keep thinking about ending it"
    units = _texts(entry, assessment_units(entry))
    assert units[0] == entry and "I keep thinking about ending it" in units
    run_on = " ".join(f"word{i}" for i in range(100))
    windows = assessment_units(run_on)[1:]
    assert windows and all(len(run_on[a:b].split()) <= 24 for a, b in windows)
    assert run_on[windows[-1][0] : windows[-1][1]].endswith("word99")


def _random_assessment(rng: random.Random) -> Assessment:
    sev = rng.choice(SEVERITIES)
    hits = [] if sev == "none" else [RuleHit("r", "suicide", "ideation", sev, sev, 0, 1, "x")]
    return Assessment(severity=sev, categories=["suicide"] if hits else [], rules=hits)


def test_the_combination_never_lowers_what_the_rules_say():
    rng = random.Random(14)
    for _ in range(2000):
        rules = _random_assessment(rng)
        sem_sev = rng.choice(SEVERITIES)
        semantic = {"severity": sem_sev, "categories": [rng.choice(["medical", "substance"])]}
        out = combine(rules, semantic)
        raised = min(rank(sem_sev), rank("high"))  # the layer alone goes up to high
        assert rank(out.severity) == max(rank(rules.severity), raised)
        assert set(rules.categories) <= set(out.categories)
        if raised <= rank(rules.severity):
            assert out.categories == rules.categories
        assert out.rules == rules.rules


@pytest.fixture(scope="module")
def detector() -> CombinedDetector:
    return default_detector()


MESSAGES = [
    "I want to kill myself",
    "im gonna kill myself tonight",
    "I would never kill myself",
    "I tried to kill myself when I was 16",
    "this headache is killing me",
    "During the session I felt like I was dying and then reborn. Total ego death.",
    "can I take a second lozenge if I feel nothing after 20 minutes?",
    "mood 7, slept well",
    "my boyfriend hits me when he drinks",
    "it burns when I pee and I'm peeing all the time",
    "nobody would miss me",
    "🔪🩸",
    "Today was lovely. " * 50 + "Honestly though I keep thinking about ending my life.",
]


@pytest.mark.parametrize("text", MESSAGES)
def test_the_real_detector_is_never_below_the_rules(detector, text):
    rules = rules_detector().assess(text)
    both = detector.assess(text)
    assert rank(both.severity) >= rank(rules.severity)
    assert set(rules.categories) <= set(both.categories)
    assert both.semantic is not None and len(both.semantic["close_to"]) == 3


def test_an_assessment_explains_itself_with_scores_and_close_examples(detector):
    text = "Good day at work. I keep wishing I could go to sleep and never wake up"
    a = detector.assess(text)
    sem = a.to_dict()["semantic"]
    assert set(sem["severity_scores"]) == {"low", "moderate", "high", "critical"}
    assert text[sem["start"] : sem["end"]] == "I keep wishing I could go to sleep and never wake up"
    ids = {e.id: e for e in load_examples()}
    for close in sem["close_to"]:
        assert ids[close["id"]].text == close["text"] and 0 < close["similarity"] <= 1.0001
    # Without spans (what is logged and stored), the examples are ids only.
    private = a.to_dict(include_spans=False)["semantic"]["close_to"]
    assert private and all("text" not in c and c["id"].startswith("ex-") for c in private)


def test_the_semantic_layer_raises_a_missed_passive_death_wish(detector):
    text = "tbh kinda hoping i just dont wake up tomorrow"
    assert rules_detector().assess(text).severity in ("none", "low", "moderate")
    assert rank(detector.assess(text).severity) >= rank("moderate")


def test_a_failing_semantic_layer_is_high_never_none(detector, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("simulated")

    broken = CombinedDetector(detector.rules, detector.model)
    monkeypatch.setattr(broken.model, "assess", boom)
    a = broken.assess("had a lovely walk")
    assert a.severity == "high" and a.error == "RuntimeError"


def test_the_model_cache_rebuilds_when_the_examples_change(tmp_path: Path):
    # A small copy of the examples (the first 30 of each file), so training takes seconds.
    examples = tmp_path / "examples"
    examples.mkdir()
    for path in sorted(DEFAULT_EXAMPLES.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["examples"] = data["examples"][:30]
        (examples / path.name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    files = sorted(examples.glob("*.yml"))
    models = tmp_path / "models"
    logs: list[str] = []
    first = ensure_semantic_model(models_dir=models, example_files=files, log=logs.append)
    again = ensure_semantic_model(models_dir=models, example_files=files, log=logs.append)
    assert first == again and "up to date" in logs[-1]
    benign = examples / "benign.yml"
    benign.write_text(
        benign.read_text(encoding="utf-8") + "- text: a brand new hard negative about troche storage\n"
        "  severity: none\n",
        encoding="utf-8",
    )
    changed = ensure_semantic_model(models_dir=models, example_files=files, log=logs.append)
    assert changed != first and changed.is_file() and "Trained" in logs[-1]
    assert fingerprint(files, [DEFAULT_LEXICON]) in changed.name


def test_bad_examples_are_a_clear_error(tmp_path: Path):
    bad = tmp_path / "x.yml"
    bad.write_text("category: suicide\nexamples:\n  - text: hi\n    severity: urgent\n")
    with pytest.raises(ExamplesError, match="severity must be one of"):
        load_examples([bad])
    bad.write_text("category: nonsense\nexamples: []\n")
    with pytest.raises(ExamplesError, match="unknown category 'nonsense'"):
        load_examples([bad])


def test_a_near_identical_labelled_example_holds_the_layer_at_its_label_never_below_the_rules():
    twin = {"id": "ex-1", "severity": "none", "categories": [], "similarity": 0.97}
    semantic = {"severity": "high", "categories": ["suicide"], "whole": True, "close_to": [twin]}
    assert combine(Assessment(), semantic).severity == "none"
    assert combine(Assessment(), semantic).semantic["held_by"] == "ex-1"
    rules = _random_assessment(random.Random(1))
    rules.severity, rules.categories = "moderate", ["suicide"]
    assert combine(rules, semantic).severity == "moderate"
    # Not near-identical, or a sentence of a longer entry: the classifier's view stands.
    assert combine(Assessment(), {**semantic, "close_to": [{**twin, "similarity": 0.8}]}).severity == "high"
    assert combine(Assessment(), {**semantic, "whole": False}).severity == "high"


def test_a_unit_takes_the_highest_step_it_passes_and_needs_confidence_to_alert_alone():
    t = np.array([0.4, 0.5, 0.35, 0.45])
    # Sure of high and critical, unsure of moderate (round 4's "my sister ... taken an
    # overdose"): high, not dropped to low as a strict ordinal chain did.
    sure = [0.5, 0.45, 0.7, 0.7]
    # Past the moderate operating point but not confident: noted (low), no alert.
    unsure_moderate = [0.9, MODERATE_CONFIDENT - 0.05, 0.2, 0.1]
    confident_moderate = [0.9, MODERATE_CONFIDENT + 0.05, 0.2, 0.1]
    # Past the high operating point, below the confidence `high` needs: moderate if confident.
    unsure_high = [0.95, 0.9, 0.5, 0.1]
    nothing = [0.1, 0.1, 0.1, 0.1]
    p = np.array([sure, unsure_moderate, confident_moderate, unsure_high, nothing])
    assert unit_ranks(p, t, 0.6).tolist() == [4, 1, 2, 2, 0]
    assert unit_ranks(p, t, 0.0).tolist() == [4, 1, 2, 3, 0]


def test_embedding_a_unit_beside_a_long_entry_gives_the_same_vector_as_alone():
    long = "I noticed the light on the water and felt calm today. " * 80
    short = ["nobody would miss me", "ok"]
    together = embed([long, *short])
    for i, text in enumerate([long, *short]):
        assert np.array_equal(together[i], embed([text])[0])


def test_normalising_twice_with_the_same_words_gives_the_same_text():
    words = {"kms": "kill myself", "unalive": "kill"}
    first = normalize("gonna kms 🔪 tbh", emoji={"🔪": "knife"}, words=words)
    again = normalize("gonna kms 🔪 tbh", emoji={"🔪": "knife"}, words=dict(words))
    assert first == again
    assert first.text == "gonna kill myself  knife  tbh"
    assert normalize("unalive", emoji={}, words={"unalive": "end"}).text == "end"


def test_a_unit_of_a_longer_message_is_held_by_its_labelled_twin(detector):
    """Conversation round 6: "bye" closing a thank-you took the safety path (the classifier
    scores a lone "bye" near farewells); the labelled "bye" decides that unit, as it does the
    whole message. A risky sentence next to it still flags."""
    assert detector.assess("thanks for checking in on me, i am ok now. bye").severity == "none"
    risky = detector.assess("thanks for checking in. i want to kill myself. bye")
    assert rank(risky.severity) >= rank("high")
