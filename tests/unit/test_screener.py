"""The C-SSRS screener's order, branching, triage and answers; risk across turns; crisis words."""

from __future__ import annotations

import pytest

from bot.safety import screener
from bot.safety.context import Turn, assess_in_context
from bot.safety.replies import crisis_reply, primary_category, who_sees
from bot.safety.resources import resources_for
from bot.safety.screener import DECLINED, NO, YES, next_question, parse_answer, should_offer, triage


def run(*replies: str) -> tuple[list[str], dict[str, str]]:
    """Answer the screener in order; return the questions asked and the answers."""
    answers: dict[str, str] = {}
    asked = []
    for reply in replies:
        q = next_question(answers)
        assert q is not None, f"no question left for {reply!r}"
        asked.append(q)
        answers[q] = reply
    assert next_question(answers) is None
    return asked, answers


def test_the_wording_file_cites_its_source_and_has_every_question():
    text = screener.DEFAULT_SCREENER.read_text()
    assert "Posner" in text and "Columbia Lighthouse Project" in text
    w = screener.wording()
    assert set(w.questions) == set(screener.QUESTIONS)
    assert [b["title"] for b in screener.buttons()] == ["Yes", "No", "I'd rather not say"]


@pytest.mark.parametrize(
    "replies, asked, severity",
    [
        ((NO, NO, NO), ["q1", "q2", "q6"], "none"),
        ((YES, NO, NO), ["q1", "q2", "q6"], "moderate"),
        ((NO, YES, NO, NO, NO, NO), ["q1", "q2", "q3", "q4", "q5", "q6"], "moderate"),
        ((YES, YES, YES, NO, NO, NO), ["q1", "q2", "q3", "q4", "q5", "q6"], "high"),
        ((YES, YES, YES, YES, NO, NO), ["q1", "q2", "q3", "q4", "q5", "q6"], "critical"),
        ((YES, YES, NO, NO, YES, NO), ["q1", "q2", "q3", "q4", "q5", "q6"], "critical"),
        ((NO, NO, YES, YES), ["q1", "q2", "q6", "q6_recent"], "critical"),
        ((NO, NO, YES, NO), ["q1", "q2", "q6", "q6_recent"], "high"),
    ],
)
def test_branching_and_triage(replies, asked, severity):
    got_asked, answers = run(*replies)
    assert got_asked == asked
    assert triage(answers) == severity
    assert screener.status(answers) == "completed"


def test_questions_3_to_5_only_after_a_yes_to_2():
    _, answers = run(YES, NO, NO)
    assert not {"q3", "q4", "q5"} & set(answers)


def test_declining_ends_the_screener_and_keeps_what_was_said():
    answers = {"q1": YES, "q2": DECLINED}
    assert next_question(answers) is None
    assert screener.status(answers) == "declined"
    assert triage(answers) == "moderate"
    assert triage({"q1": DECLINED}) == "none"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("yes", YES),
        ("Yes!", YES),
        ("yeah", YES),
        ("yep", YES),
        ("y", YES),
        ("yse", YES),
        ("yess.", YES),
        ("Yeah I have", YES),
        ("/affirm", YES),
        ("no", NO),
        ("No.", NO),
        ("nope", NO),
        ("not really", NO),
        ("Not realy...", NO),
        ("noo", NO),
        ("n", NO),
        ("/deny", NO),
        ("skip", DECLINED),
        ("I'd rather not say", DECLINED),
        ("I\u2019d rather not say", DECLINED),
        ("rather not say", DECLINED),
        ("id rather not sya", DECLINED),
        ("check in", None),
        ("maybe", None),
        ("not sure", None),
        ("", None),
        ("i dont know", None),
    ],
)
def test_typed_answers(text, expected):
    assert parse_answer(text) == expected


def test_when_the_screener_is_offered():
    base = dict(categories=["suicide"], handoff_active=False, recent_level=None)
    assert should_offer(severity="low", **base)
    assert should_offer(severity="critical", **base)
    assert not should_offer(severity="none", **base)
    assert not should_offer(severity="high", categories=["medical"], handoff_active=False, recent_level=None)
    assert not should_offer(severity="high", categories=["suicide"], handoff_active=True, recent_level=None)
    # Within 24 h: only a higher signal asks again.
    assert not should_offer(
        severity="moderate", categories=["suicide"], handoff_active=False, recent_level="moderate"
    )
    assert should_offer(
        severity="high", categories=["suicide"], handoff_active=False, recent_level="moderate"
    )
    assert not should_offer(
        severity="high", categories=["suicide"], handoff_active=False, recent_level="critical"
    )


IDEATION = {"severity": "moderate", "categories": ["suicide"], "rules": [{"rule": "suicide.passive"}]}
NOTHING = {"severity": "none", "categories": [], "rules": []}


@pytest.mark.parametrize(
    "text, severity",
    [
        ("I thought about how I'd do it", "high"),
        ("I've worked out when and where", "critical"),
        ("I've decided to do it on friday", "critical"),
        ("i've got the pills saved up", "critical"),
        ("tonight.", "critical"),
    ],
)
def test_a_method_or_plan_after_ideation_escalates_and_names_the_earlier_message(text, severity):
    earlier = [Turn("m1", IDEATION, 300), Turn("m2", NOTHING, 120)]
    risk = assess_in_context(text, dict(NOTHING), earlier)
    assert risk["severity"] == severity
    assert "suicide" in risk["categories"]
    assert risk["context"]["message_id"] == "m1"
    assert risk["rules"][-1]["built_on"] == "m1"


def test_context_needs_recent_ideation_and_never_lowers():
    assert assess_in_context("I thought about how I'd do it", NOTHING, [])["severity"] == "none"
    old = [Turn("m1", IDEATION, 2 * 3600)]
    assert assess_in_context("I thought about how I'd do it", NOTHING, old)["severity"] == "none"
    ordinary = [Turn("m1", NOTHING, 60)]
    assert assess_in_context("I've decided to do it on friday", NOTHING, ordinary)["severity"] == "none"
    critical = {"severity": "critical", "categories": ["suicide"], "rules": []}
    assert (
        assess_in_context("I thought about how I'd do it", critical, [Turn("m1", IDEATION, 60)]) == critical
    )
    # Ordinary words after ideation stay ordinary.
    assert assess_in_context("going to the cinema tonight", NOTHING, [Turn("m1", IDEATION, 60)]) == NOTHING


US = resources_for("en-US")


def _risk(category: str, severity: str) -> dict:
    return {
        "severity": severity,
        "categories": [category],
        "rules": [{"category": category, "severity": severity}],
    }


@pytest.mark.parametrize("alerted", [True, False])
def test_crisis_words_are_true_to_the_configuration(alerted):
    reply = crisis_reply(_risk("suicide", "high"), US, alerted=alerted, on_call=False)
    if alerted:
        assert "I've alerted your care team" in reply and "in their portal" not in reply
    else:
        assert "alerted" not in reply and "will see this in their portal during clinic hours" in reply
    # The sentence about the numbers is right before them.
    lines = reply.splitlines()
    at = next(i for i, line in enumerate(lines) if "988" in line)
    assert "one of these now:" in lines[at - 1]
    assert "numbers below" not in reply


def test_on_call_is_said_only_when_alerted():
    assert "on-call" in who_sees(alerted=True, on_call=True)
    assert "on-call" not in who_sees(alerted=False, on_call=True)


def test_each_category_gets_its_own_words():
    medical = crisis_reply(
        _risk("medical", "critical"), US, alerted=True, on_call=False, clinic_line="555-0100"
    )
    assert medical.startswith(
        "This could be a medical emergency. Please call 911 now. Your clinic's urgent line: 555-0100."
    )
    assert "988" not in medical
    substance = crisis_reply(_risk("substance", "high"), US, alerted=False, on_call=False)
    assert "without judgement" in substance and "988" not in substance
    safeguarding = crisis_reply(_risk("safeguarding", "high"), US, alerted=False, on_call=False)
    assert "not your fault" in safeguarding and "deserve to be safe" in safeguarding
    third = crisis_reply(_risk("third_party", "high"), US, alerted=False, on_call=False)
    assert "looking out for them" in third and "988" in third
    suicide = crisis_reply(_risk("suicide", "critical"), US, alerted=False, on_call=False)
    assert suicide.startswith("I'm really glad you told me.") and "Please call 911 now" in suicide
    # A medical emergency wins over a co-occurring lower risk.
    both = {
        "severity": "critical",
        "categories": ["medical", "substance"],
        "rules": [
            {"category": "substance", "severity": "high"},
            {"category": "medical", "severity": "critical"},
        ],
    }
    assert primary_category(both) == "medical"
    assert (
        primary_category(
            {"severity": "moderate", "categories": ["suicide"], "rules": [{"rule": "phq9.item9"}]}
        )
        == "suicide"
    )


def test_an_unrecorded_flag_claims_nobody_will_see_it():
    reply = crisis_reply(_risk("suicide", "high"), US, alerted=False, on_call=False, recorded=False)
    assert "portal" not in reply and "alerted" not in reply and "988" in reply
    assert "  " not in reply and "\n\n" not in reply


def test_below_the_threshold_only_a_rule_on_suicide_starts_the_safety_path():
    """The screener is asked for suicide from low up when a rule says so; a semantic-only low
    (the layer unsure, common on ordinary messages) is noted, not answered with crisis words."""
    from bot.safety.context import takes_safety_path

    rule = {"rule": "suicide.hopeless", "category": "suicide", "kind": "hopelessness", "severity": "low"}
    semantic = {"rule": "semantic", "category": "suicide", "kind": "semantic", "severity": "low"}
    assert takes_safety_path({"severity": "low", "categories": ["suicide"], "rules": [rule]}, "moderate")
    assert not takes_safety_path({"severity": "low", "categories": ["suicide"], "rules": []}, "moderate")
    assert not takes_safety_path(
        {"severity": "low", "categories": ["suicide"], "rules": [semantic]}, "moderate"
    )
    assert not takes_safety_path({"severity": "low", "categories": ["medical"], "rules": []}, "moderate")
    assert takes_safety_path({"severity": "moderate", "categories": ["medical"], "rules": []}, "moderate")
    assert takes_safety_path({"severity": "low", "categories": [], "rules": []}, "low")


def test_putting_it_off_until_tomorrow_after_ideation_is_critical():
    """The lexicon no longer reads "I'll do it tomorrow" alone as intent (it is how patients put
    off a check-in); after ideation the context layer still makes it critical."""
    risk = assess_in_context("I'll do it tomorrow", dict(NOTHING), [Turn("m1", IDEATION, 120)])
    assert risk["severity"] == "critical" and "suicide" in risk["categories"]
