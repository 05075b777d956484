"""The risk detector against the clinical guide's rules (section 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety.assessment import rank
from bot.safety.detector import Detector
from bot.safety.lexicon import LexiconError


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_files()


def sev(detector: Detector, text: str) -> str:
    return detector.assess(text).severity


@pytest.mark.parametrize(
    ("text", "category", "at_least"),
    [
        ("I want to kill myself", "suicide", "high"),
        ("im gonna kill myself tonight", "suicide", "critical"),
        ("I've saved up my troches, I know how many it takes", "suicide", "critical"),
        ("This is goodbye everyone. Tell my sister I love her.", "suicide", "critical"),
        ("I took all my pills", "suicide", "critical"),
        ("i wish i was dead", "suicide", "moderate"),
        ("everyone would be better off without me", "suicide", "moderate"),
        ("I've been cutting again", "self_harm", "high"),
        ("I want to hurt my boss, I think about stabbing him", "harm_to_others", "high"),
        ("my boyfriend hits me when he drinks", "safeguarding", "high"),
        ("there's blood when I pee since the last troche", "medical", "high"),
        ("my husband won't wake up after his dose", "medical", "critical"),
        ("it burns when I pee and I'm peeing all the time", "medical", "moderate"),
        ("the voices are telling me to do things", "psychiatric", "high"),
        ("I took an extra troche and had a few glasses of wine", "substance", "high"),
        ("I bought ketamine off a dealer", "substance", "high"),
        ("my friend says she wants to kill herself", "third_party", "high"),
    ],
)
def test_each_category_is_detected(detector, text, category, at_least):
    a = detector.assess(text)
    assert category in a.categories, a.to_dict()
    assert rank(a.severity) >= rank(at_least), a.to_dict()


@pytest.mark.parametrize(
    "text",
    [
        "I can't go on like this",
        "nobody would miss me",
        "I don't want to exist",
        "I don't want to be here anymore",
    ],
)
def test_negations_that_are_risk_are_flagged(detector, text):
    """Guide: these contain negations and are risk."""
    assert rank(sev(detector, text)) >= rank("moderate")


def test_negation_lowers_one_level_and_is_recorded_never_clears(detector):
    a = detector.assess("I would never kill myself")
    assert a.severity == "moderate"  # high, lowered by one
    assert [(low.reason, low.from_severity, low.to_severity) for low in a.lowering] == [
        ("negation", "high", "moderate")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to kill myself tonight",
        "I won't take all my pills, I promise, I've just saved them up",
        "this is not goodbye, this is goodbye forever",
    ],
)
def test_plan_intent_means_farewell_are_never_lowered(detector, text):
    a = detector.assess(text)
    assert a.severity == "critical", a.to_dict()


def test_past_and_hypothetical_lower_by_one(detector):
    past = detector.assess("I tried to kill myself when I was 16")
    assert past.severity == "moderate" and {low.reason for low in past.lowering} == {"past"}
    hypo = detector.assess("if I ever wanted to kill myself I would tell you")
    assert hypo.severity == "moderate" and hypo.lowering[0].reason == "hypothetical"


@pytest.mark.parametrize(
    "text",
    [
        "I'm killing it at work this week",
        "this headache is killing me",
        "I'm dying to see my sister",
        "During the session I felt like I was dying and then reborn. Total ego death.",
        "I saw my own funeral and my dead grandmother was holding my hand",
        "It felt like my old self died and something new began",
        "I left my body and floated above the room",
        "I could kill for a coffee",
        "mood 7, slept well, walked by the river",
        "I cut myself shaving",
    ],
)
def test_idioms_and_integration_imagery_do_not_flag(detector, text):
    assert detector.assess(text).severity == "none", detector.assess(text).to_dict()


def test_risk_in_the_middle_of_a_long_positive_entry(detector):
    entry = (
        "Today was lovely. " * 200
        + "Honestly though I keep thinking about ending my life. "
        + "Anyway, the garden looked beautiful and I made soup. " * 200
    )
    a = detector.assess(entry)
    assert a.severity == "high"
    hit = a.rules[0]
    assert entry[hit.start : hit.end] == hit.span and "ending my life" in hit.span


@pytest.mark.parametrize(
    "text",
    [
        "I WANT TO DIE",
        "i want to diiiiie",
        "k i l l myself",
        "s.u.i.c.i.d.e is all i think about",
        "su1c1de",
        "kms",
        "i wanna unalive myself",
        "I want to kil myslef",
        "suicde thoughts again",
        "I want to die 💊💊💊",
        "🔪🩸",
    ],
)
def test_spelling_spacing_slang_and_emoji(detector, text):
    assert rank(sev(detector, text)) >= rank("high"), detector.assess(text).to_dict()


def test_ideation_with_means_or_timing_is_critical(detector):
    a = detector.assess("I want to die. I have a bottle of pills next to me")
    assert a.severity == "critical"
    assert any(h.rule.startswith("escalate.means") for h in a.rules)


def test_every_hit_records_rule_and_span(detector):
    text = "I feel like a burden to everyone"
    a = detector.assess(text)
    assert a.rules and all(text[h.start : h.end] == h.span for h in a.rules)
    assert all(h.rule and h.category for h in a.rules)


def test_without_spans_no_patient_words_leak(detector):
    d = detector.assess("I want to kill myself").to_dict(include_spans=False)
    assert "kill" not in str(d).replace("suicide", "")


def test_detector_failure_is_high_never_none(detector, monkeypatch):
    def boom(_text):
        raise RuntimeError("simulated")

    monkeypatch.setattr(detector, "_assess", boom)
    a = detector.assess("anything at all")
    assert a.severity == "high" and a.error == "RuntimeError"


def test_bad_lexicon_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "lexicon.yml"
    bad.write_text("rules:\n  - id: x\n    category: nonsense\n    severity: high\n    patterns: [a]\n")
    with pytest.raises(LexiconError, match="unknown category 'nonsense'"):
        Detector.from_files([bad])
    broken = tmp_path / "broken.yml"
    broken.write_text("rules: [\n")
    with pytest.raises(LexiconError, match="not valid YAML"):
        Detector.from_files([broken])


def test_clinic_extension_adds_rules(tmp_path: Path):
    from bot.safety.detector import DEFAULT_LEXICON

    extra = tmp_path / "clinic.yml"
    extra.write_text(
        "rules:\n  - id: clinic.local_bridge\n    category: suicide\n    severity: critical\n"
        "    kind: plan\n    patterns: ['go to the old mill bridge']\n"
    )
    d = Detector.from_files([DEFAULT_LEXICON, extra])
    assert d.assess("I might go to the old mill bridge").severity == "critical"


SAFETY_SETS = Path(__file__).resolve().parents[1] / "safety"


@pytest.mark.parametrize("name", ["dev_set.jsonl", "holdout_set.jsonl"])
def test_labelled_sets_no_acute_miss_and_no_false_alarm(detector, name):
    """A regression guard: every critical example stays critical; nothing labelled below the
    threshold takes the safety path. (Recall figures: `interlude safety eval`.)"""
    import json

    for line in (SAFETY_SETS / name).read_text().splitlines():
        ex = json.loads(line)
        got = detector.assess(ex["text"])
        if ex["min_severity"] == "critical":
            assert got.severity == "critical", ex["text"]
        if ex["min_severity"] in ("none", "low"):
            assert rank(got.severity) < rank("moderate"), (ex["text"], got.to_dict())


def test_numbers_in_words_or_digits(detector):
    assert detector.assess("I took twenty of my sleeping tablets").severity == "critical"
    assert detector.assess("took 15 pills an hour ago").severity == "critical"
    assert detector.assess("had a good day").severity == "none"


@pytest.mark.parametrize("phrase", ["~2 kill myself", "kill myself ~", "word? ~2"])
def test_phrases_that_would_match_too_much_are_refused(tmp_path, phrase):
    lex = tmp_path / "l.yml"
    lex.write_text(
        "rules:\n  - id: x\n    category: suicide\n    severity: high\n    patterns: ['" + phrase + "']\n"
    )
    with pytest.raises(LexiconError, match=r"gap|required word"):
        Detector.from_files([lex])


# ---------------------------------------------------------------- a clinician's trial (detector brief)
def _rule_ids(a) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.rule for h in a.rules}


def test_a_few_troches_instead_of_one_is_substance_not_an_attempt(detector):
    """An extra dose is dose escalation (guide section 4: substance, high), not the suicide reply."""
    a = detector.assess("I took three troches instead of one")
    assert a.severity == "high"
    assert a.categories == ["substance"]
    assert "suicide.attempt" not in _rule_ids(a)
    assert any(s["rule"] == "suicide.attempt" and s["by"] == "dose.few_instead_of_one" for s in a.suppressed)


@pytest.mark.parametrize(
    "text",
    [
        "I took 20 troches instead of one",  # many is still an overdose
        "took all my troches instead of one",
        "took 4 troches and some of my oxy",  # no comparison: still an attempt
        "i took 3 troches instead of one because i want to die",  # ideation + means
        "i had 20 troches and 3 beers",  # counted drinks beside counted pills
        "i had 3 glasses of wine then took 20 troches",
    ],
)
def test_an_overdose_stays_critical(detector, text):
    a = detector.assess(text)
    assert a.severity == "critical", a.to_dict()
    assert "suicide" in a.categories


@pytest.mark.parametrize(
    "text",
    ["should i be worried i had 3 beers after my troche", "had 3 beers after my troche and i feel weird"],
)
def test_counted_drinks_after_a_troche_are_mixing_not_an_attempt(detector, text):
    """Mixing with alcohol is substance risk (guide section 4); "had 3 ... troche" read as
    "had 3 troches" gave the suicide reply and a 5-minute critical alert."""
    a = detector.assess(text)
    assert a.severity == "high" and a.categories == ["substance"], a.to_dict()
    assert "suicide.attempt" not in _rule_ids(a)


@pytest.mark.parametrize(
    "text",
    [
        "is it ok to have a glass of wine after my troche?",
        "is it safe to drink alcohol the day after a troche",
    ],
)
def test_a_question_about_mixing_is_noted_not_escalated(detector, text):
    """Asked before doing it, a question is not a report of mixing: low (seen by the therapist)."""
    a = detector.assess(text)
    assert a.severity == "low"
    assert a.categories == ["substance"]
    assert [(low.reason, low.to_severity) for low in a.lowering] == [("question", "low")]


@pytest.mark.parametrize(
    "text",
    [
        "I had a glass of wine after my troche",
        "should i be worried i had 3 beers after my troche",  # a report, asked as a question
        "took an extra troche and had a few glasses of wine",
        "is it ok to take my xanax with the troche? ive been doing it anyway",  # asked, then reported
    ],
)
def test_a_report_of_mixing_stays_high(detector, text):
    assert rank(detector.assess(text).severity) >= rank("high")


def test_a_question_never_lowers_suicide(detector):
    a = detector.assess("can i take all my pills tonight and just not wake up")
    assert a.severity == "critical"
    assert not any(low.reason == "question" for low in a.lowering)


def test_not_gonna_be_here_tomorrow_is_a_farewell(detector):
    a = detector.assess("not gonna be here tmrw. im not even scared anymore")
    assert a.severity == "critical"
    assert "suicide.farewell" in _rule_ids(a)


def test_pregnancy(detector):
    assert detector.assess("pregnancy test was negative fyi, nurse asked me to check").severity == "none"
    assert detector.assess("I think I'm pregnant").severity == "high"
    late = detector.assess("period is 9 days late and my session is friday")
    assert rank(late.severity) >= rank("moderate")


def test_a_rule_scoped_benign_context_must_name_real_rules(tmp_path: Path):
    from bot.safety.detector import DEFAULT_LEXICON

    extra = tmp_path / "clinic.yml"
    extra.write_text("benign:\n  - id: x\n    only: [no.such_rule]\n    patterns: ['took one troche']\n")
    with pytest.raises(LexiconError, match=r"unknown rules: no\.such_rule"):
        Detector.from_files([DEFAULT_LEXICON, extra])


def test_a_family_idiom_is_not_a_threat(detector):
    assert detector.assess("my sister is gonna kill me for skipping her bday dinner").severity == "none"
    assert rank(detector.assess("hes outside saying hes gonna kill me").severity) >= rank("high")


@pytest.mark.parametrize(
    "text",
    [
        "leave a note for my therapist before thursday",
        "can you pass a note to my therapist that the new routine is helping",
        "skip today's reminder, i'll do it tomorrow",
        "no more today pls, ill do it tmrw",
    ],
)
def test_the_note_feature_and_putting_off_a_checkin_are_not_suicide_rules(detector, text):
    """Conversation rounds 6-7: "leave a note for my therapist" met the farewell rule and "I'll
    do it tomorrow" the intent rule, both critical, so ordinary requests got the crisis reply."""
    ids = _rule_ids(detector.assess(text))
    assert "suicide.farewell" not in ids and "suicide.intent" not in ids, ids


@pytest.mark.parametrize(
    "text, rule",
    [
        ("i wrote a note for my family, they'll understand", "suicide.farewell"),
        ("going to leave a note for my kids", "suicide.farewell"),
        ("i'm doing it tonight", "suicide.intent"),
    ],
)
def test_farewell_notes_and_present_intent_still_fire(detector, text, rule):
    a = detector.assess(text)
    assert rule in _rule_ids(a) and a.severity == "critical", a.to_dict()
