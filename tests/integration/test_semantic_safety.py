"""Issue 14 over the real stack: the combined detector (rules + semantic layer) on the paths
that went wrong in the running product, and the explanation on the portal's flag page."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from bot.demo import DEMO_THERAPIST_EMAIL

pytestmark = pytest.mark.integration

# Phrasings the lexicon has no rule for (checked in the test): only the semantic layer sees them.
DEATH_WISH = "honestly some nights i kinda hope i just dont wake up"
DOSING_QUESTIONS = [
    "can I take a second lozenge if I feel nothing after 20 minutes?",
    "how many troches can I take in one go?",
    # From a clinician's trial: an extra dose is substance risk, a question about mixing is not a
    # report of mixing; neither is the suicide reply.
    "I took three troches instead of one",
    "is it ok to have a glass of wine after my troche?",
]


def test_a_passive_death_wish_as_the_checkin_answer_gets_a_safety_reply_and_a_flag(
    stack, stack_store, new_patient
):
    from bot.safety.service import rules_detector

    assert rules_detector().assess(DEATH_WISH).severity == "none"  # the rules alone missed it
    ref = new_patient()
    stack.say(ref, "hi", "check in", "4", "5")
    assert "Anything you'd like to note" in stack.say(ref, "6")
    reply = stack.say(ref, DEATH_WISH)
    assert "988" in reply, reply
    assert "mood 4/10" not in reply  # not saved as an ordinary answer
    flags = [
        f for f in stack_store.flags.list_flags(actor="test", origin="integration") if f.patient_ref == ref
    ]
    assert flags and flags[0].severity in ("moderate", "high", "critical")
    semantic = [r for r in flags[0].signals[0]["rules"] if r.get("kind") == "semantic"]
    assert semantic and semantic[0]["severity"] != "none" and len(semantic[0]["close_to"]) == 3
    # The flag stores the closest examples by id, never their words next to the patient's.
    assert all(set(c) == {"id", "severity", "categories", "similarity"} for c in semantic[0]["close_to"])
    notes = [
        a for a in stack_store.checkins.list_answers(ref, actor="t", origin="t") if a.prompt_key == "note"
    ]
    assert notes == []

    # The portal's flag page says why: "close to: ..." with the examples' words.
    from bot.safety.examples import example_index

    c = httpx.Client(base_url=stack.settings.web_url, follow_redirects=False, timeout=60)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/portal/login").text).group(1)
    password = (stack.settings.secrets_dir / "demo-therapist-password").read_text().strip()
    r = c.post(
        "/portal/login",
        data={"csrf": token, "email": DEMO_THERAPIST_EMAIL, "password": password, "next": "/portal"},
    )
    assert r.status_code == 303
    page = html.unescape(c.get(f"/portal/flags/{flags[0].id}").text)
    assert "close to:" in page
    closest = example_index()[semantic[0]["close_to"][0]["id"]].text
    assert closest in page


@pytest.mark.parametrize("question", DOSING_QUESTIONS)
def test_dosing_questions_do_not_get_the_critical_suicide_reply(stack, stack_store, new_patient, question):
    ref = new_patient()
    stack.say(ref, "hi")
    reply = stack.say(ref, question)
    assert "Please call 911 now" not in reply, reply
    severity = stack_store.flags.open_flag_severity(ref)
    assert severity in (None, "moderate", "high"), severity
    if "wine" in question:  # a question is not a report of mixing: noted, no alert
        assert severity is None, severity
    if severity is not None:
        flags = [f for f in stack_store.flags.list_flags(actor="t", origin="t") if f.patient_ref == ref]
        fired = {r["rule"] for s in flags[0].signals for r in s["rules"]}
        assert not fired & {"suicide.attempt", "suicide.plan"}
