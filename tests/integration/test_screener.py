"""The C-SSRS screener, risk across turns and true crisis words, over the real stack.

The local channel (as `make chat` talks) covers every behaviour; test_telegram.py and
test_webchat.py run the screener and the ideation-then-plan path in their channels too.
The shared stack's demo clinic has alert channels configured; a second clinic has none.
"""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.demo import DEMO_THERAPIST_EMAIL
from bot.flags.handoff import HandoffService, RasaApi
from bot.store.db import transaction
from bot.store.models import AlertDelivery, ScreenerRun

pytestmark = pytest.mark.integration

IDEATION = "I keep wishing I was dead"
PLAN = "I've decided to do it on friday"
Q1 = "wished you were dead"
Q2 = "thoughts of killing yourself"
Q3 = "thought about how you might do this"
Q4 = "intention of acting on these thoughts"
Q5 = "work out, or worked out, the details"
Q6 = "Have you ever done anything"
Q6_RECENT = "within the past 3 months"
ALERTED = "I've alerted your care team"
PORTAL = "Your care team will see this in their portal during clinic hours"
SAFE_NOW = "Are you safe right now?"
#: Words that promise a person will act: said only when an alert went to a configured channel.
PROMISES = ("alerted", "alert your", "will be in touch", "will contact you", "follow up", "on-call")


def say(stack, ref: str, text: str) -> str:
    return "\n".join(r.get("text", "") for r in stack.client(ref).send(text))


def flags_of(stack_store, ref: str) -> list:
    return [
        f for f in stack_store.flags.list_flags(actor="test", origin="integration") if f.patient_ref == ref
    ]


def runs_of(stack_store, ref: str) -> list[dict]:
    (flag,) = flags_of(stack_store, ref)
    return stack_store.screeners.screeners_for_flag(flag.id)


def deliveries(stack_store, flag_id: int) -> list[tuple[str, str]]:
    with transaction(stack_store.core.factory) as s:
        rows = s.execute(
            select(AlertDelivery.severity, AlertDelivery.channel).where(AlertDelivery.flag_id == flag_id)
        ).all()
    return sorted({(sev, ch) for sev, ch in rows})


def test_ideation_then_a_plan_two_turns_later_is_one_critical_flag_realerted_and_linked(
    stack, stack_store, new_patient, alert_peers
):
    tg, _, _ = alert_peers
    ref = new_patient()
    say(stack, ref, "hi")
    first = say(stack, ref, IDEATION)
    assert ALERTED in first and Q1 in first and Q2 not in first  # one question per message
    declined = say(stack, ref, "I'd rather not say")
    assert "you don't have to answer" in declined and Q2 not in declined
    assert stack_store.flags.open_flag_severity(ref) == "moderate"  # a declined screener keeps the level
    reply = say(stack, ref, PLAN)
    assert "Please call 911 now" in reply and "Are you safe right now?" in reply

    (flag,) = flags_of(stack_store, ref)
    assert flag.severity == "critical"
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    detail = stack_store.portal.flag_detail(staff, flag.id)
    texts = [s["text"] for s in detail.signals]
    assert texts == [IDEATION, PLAN]
    assert detail.signals[1]["built_on"] == detail.signals[0]["message_id"] is not None
    assert detail.signals[1]["built_on_index"] == 1
    assert any(r["rule"] == "context.plan_after_ideation" for r in detail.signals[1]["rules"])
    # Re-alerted: the outbox holds the critical alert on every configured channel.
    assert {sev for sev, _ in deliveries(stack_store, flag.id)} == {"moderate", "critical"}
    tg.wait_for(lambda: [m for m in tg.sent if ref in m["text"] and "critical" in m["text"].lower()], 30)
    # The declined screener is on the flag, shown as declined; the higher signal asks again
    # (after "are you safe right now?").
    declined_run, new_run = detail.screeners
    assert (declined_run["status"], declined_run["items"][0][2]) == ("declined", "declined")
    assert (new_run["status"], new_run["trigger"], new_run["answers"]) == ("in_progress", "critical", {})

    # The clinician sees it on the flag page and in the session-prep PDF.
    from tests.integration.test_portal import demo_password, sign_in

    portal = sign_in(stack, DEMO_THERAPIST_EMAIL, demo_password(stack))
    page = portal.get(f"/portal/flags/{flag.id}").text
    assert "Columbia screener" in page and "<td>declined</td>" in page
    assert "Read together with message 1 above" in page
    pdf = portal.get(f"/portal/patients/{ref}/session-prep.pdf").content
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "C-SSRS screener: declined" in text


@pytest.mark.parametrize(
    "answers, asked, severity",
    [
        (["Yes!", "nope", "not really"], [Q2, Q6, None], "moderate"),
        (["no", "yse", "yes", "no", "No.", "no"], [Q2, Q3, Q4, Q5, Q6, None], "high"),
        (["no", "yes", "no", "yeah", "no", "no"], [Q2, Q3, Q4, Q5, Q6, None], "critical"),
        (["n", "no", "yep", "y"], [Q2, Q6, Q6_RECENT, None], "critical"),
    ],
    ids=["wish-only-moderate", "method-high", "intent-critical", "recent-behaviour-critical"],
)
def test_a_full_screener_run_gives_the_documented_severity(
    stack, stack_store, new_patient, answers, asked, severity
):
    ref = new_patient()
    say(stack, ref, "hi")
    assert Q1 in say(stack, ref, IDEATION)
    for answer, expected in zip(answers, asked, strict=True):
        reply = say(stack, ref, answer)
        if expected is not None:
            assert expected in reply, (answer, reply)
        else:
            assert "Thank you for answering these" in reply
    assert stack_store.flags.open_flag_severity(ref) == severity
    (run,) = runs_of(stack_store, ref)
    assert run["status"] == "completed" and run["result"] == severity
    if severity != "moderate":  # raised: re-alerted with the new deadline
        (flag,) = flags_of(stack_store, ref)
        assert severity in {sev for sev, _ in deliveries(stack_store, flag.id)}


def test_not_asked_twice_in_24h_without_a_higher_signal_and_never_during_a_handoff(
    stack, stack_store, new_patient
):
    ref = new_patient()
    say(stack, ref, "hi")
    assert Q1 in say(stack, ref, IDEATION)
    for answer in ("no", "no", "no"):
        say(stack, ref, answer)
    again = say(stack, ref, "honestly everyone would be better off without me")  # moderate again
    assert ALERTED in again and Q1 not in again
    higher = say(stack, ref, "I keep thinking about ending my life")  # high: a higher signal
    assert "Are you safe right now?" in higher and Q1 not in higher
    assert Q1 in say(stack, ref, "yes I'm safe")  # after the safety question, one at a time
    with transaction(stack_store.core.factory) as s:
        assert s.query(ScreenerRun).filter(ScreenerRun.trigger_severity == "high").count() >= 1

    # A clinician takes over mid-screener: it stops, and is not asked during the handoff.
    staff = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    service = HandoffService(
        stack_store.handoffs, stack_store.staff, RasaApi(stack.settings.rasa_url, stack.settings.api_token)
    )
    client = stack.client(ref)
    service.start(ref, staff, origin="test")
    client.fetch_outbox()
    assert client.send("yes") == []  # not read as a screener answer: the clinician leads
    risky = "\n".join(m.get("text", "") for m in client.send("I have the pills and I've decided to do it"))
    assert "Please call 911 now" in risky and Q1 not in risky and Q2 not in risky
    assert Q1 not in "\n".join(m.get("text", "") for m in client.send("yes, I'm safe"))
    service.end(ref, staff, origin="test")
    statuses = [r["status"] for r in runs_of(stack_store, ref)]
    assert statuses == ["completed", "handoff"]


def test_mid_checkin_the_checkin_waits_and_resumes_with_its_answers(stack, stack_store, new_patient):
    ref = new_patient()
    say(stack, ref, "hi")
    say(stack, ref, "check in")
    assert "how anxious" in say(stack, ref, "6")
    assert Q1 in say(stack, ref, "sometimes I wish I could go to sleep and not wake up")
    say(stack, ref, "no")
    say(stack, ref, "no")
    resumed = say(stack, ref, "no")
    assert "Thank you for answering these" in resumed and "how anxious" in resumed
    assert "mood 6/10" in "\n".join(say(stack, ref, t) for t in ("3", "7", "ok"))


def test_crisis_words_follow_the_configuration_and_the_category(
    stack, stack_store, new_patient, quiet_patient
):
    alerted, quiet = new_patient(), quiet_patient()
    for ref in (alerted, quiet):
        say(stack, ref, "hi")
    with_alerts = say(stack, alerted, "I keep thinking about ending my life")
    without = say(stack, quiet, "I keep thinking about ending my life")
    assert ALERTED in with_alerts and PORTAL not in with_alerts
    assert PORTAL in without and "alerted" not in without
    for reply in (with_alerts, without):
        lines = reply.splitlines()
        at = next(i for i, line in enumerate(lines) if "988" in line)
        assert "call or text one of these now:" in lines[at - 1]  # the numbers sentence, by the numbers
        assert "numbers below" not in reply

    medical = say(stack, new_patient(), "my chest hurts and I can't breathe after my dose")
    assert medical.startswith("This could be a medical emergency. Please call 911 now.")
    assert "988" not in medical and ALERTED in medical and Q1 not in medical
    substance = say(stack, quiet_patient(), "I drank a bottle of wine and took extra ketamine")
    assert "without judgement" in substance and "988" not in substance and PORTAL in substance
    safeguarding = say(stack, new_patient(), "my partner hits me")
    assert "not your fault" in safeguarding and "deserve to be safe" in safeguarding
    third = say(stack, new_patient(), "my friend said she wants to kill herself")
    assert "looking out for them" in third and Q1 not in third


def test_phq9_item_9_takes_the_same_path_to_the_screener(stack, stack_store, new_patient):
    ref = new_patient()
    stack.say(ref, "hi", "phq9")
    for _ in range(8):
        stack.say(ref, "0")
    reply = say(stack, ref, "1")  # item 9: several days
    assert "988" in reply and Q1 in reply
    assert Q2 in say(stack, ref, "no")
    (run,) = runs_of(stack_store, ref)
    assert run["status"] == "in_progress" and run["answers"] == {"q1": "no"}


def test_a_new_message_after_are_you_safe_is_not_read_as_an_answer(stack, stack_store, new_patient):
    """Before: any reply that was not a clear yes was read as "not safe right now" and made the
    flag critical, an unrelated question included."""
    ref = new_patient()
    say(stack, ref, "hi")
    assert SAFE_NOW in say(stack, ref, "I keep thinking about ending my life")  # high
    ordinary = say(stack, ref, "what time is my next session?")
    assert "Thank you for being honest" not in ordinary and "Please call 911 now" not in ordinary
    wine = say(stack, ref, "is it ok to have a glass of wine after my troche?")
    assert "Thank you for being honest" not in wine
    assert stack_store.flags.open_flag_severity(ref) == "high"
    (flag,) = flags_of(stack_store, ref)
    rules = [r["rule"] for sig in flag.signals for r in sig["rules"]]
    assert "safety_check.not_confirmed_safe" not in rules
    # Risk-checked as always: a risky new message still takes the safety path.
    assert "Please call 911 now" in say(stack, ref, "I have the pills and I've decided to do it tonight")
    # The question is still open: an answer, typo and all, is read as one.
    reply = say(stack, ref, "yse im safe")
    assert "Thank you for letting me know" in reply and Q1 in reply  # then the screener
    assert stack_store.flags.open_flag_severity(ref) == "critical"  # from the plan, not from the answer
    rules = [r["rule"] for f in flags_of(stack_store, ref) for sig in f.signals for r in sig["rules"]]
    assert "safety_check.not_confirmed_safe" not in rules


@pytest.mark.parametrize("configured", [True, False], ids=["alerts-configured", "no-alert-channel"])
def test_replies_promise_follow_up_only_when_an_alert_went_out(
    stack, stack_store, new_patient, quiet_patient, configured
):
    """The consent, "are you safe right now?" answered yes and no, the held check-in and the
    bot's answer to "is a person reading this?", under both configurations."""
    patient = new_patient if configured else quiet_patient

    def promises(text: str) -> list[str]:
        return [p for p in PROMISES if p in text.replace("nobody is alerted", "")]

    consent = say(stack, patient(consented=False), "hi")
    assert "Do you agree" in consent
    if configured:
        assert "crisis numbers and alert your care team" in consent
    else:
        assert "in their portal during clinic hours" in consent and "nobody is alerted" in consent
        assert promises(consent) == []

    yes_ref, no_ref = patient(), patient()
    for ref in (yes_ref, no_ref):
        say(stack, ref, "hi")
        assert SAFE_NOW in say(stack, ref, "I keep thinking about ending my life")
    safe = say(stack, yes_ref, "yes I'm safe")
    not_safe = say(stack, no_ref, "no")
    for ref in (yes_ref, no_ref):  # the screener follows; declined, so the next replies are ordinary
        assert "you don't have to answer" in say(stack, ref, "I'd rather not say")
    held = say(stack, no_ref, "check in")
    bot = say(stack, yes_ref, "are you a real person?")
    assert "Thank you for letting me know" in safe and "911" in safe
    assert not_safe.startswith("Thank you for being honest with me. Please call 911 now")
    assert "hold off on check-in questions" in held and "988" in held
    assert "automated assistant" in bot and "not watched around the clock" in bot
    if configured:
        assert "I've alerted your care team, and someone will be in touch" in safe
        assert "I've alerted your care team that this is urgent" in not_safe
        assert "has been alerted to what you shared, and someone will be in touch" in held
        assert "your care team is alerted" in bot
    else:
        assert "will see this in their portal during clinic hours" in safe
        assert "marked this as urgent for your care team, who will see it in their portal" in not_safe
        assert "will see what you shared in their portal during clinic hours" in held
        assert "nobody is alerted when you write" in bot
        for text in (safe, not_safe, held, bot):
            assert promises(text) == [], text
    assert stack_store.flags.open_flag_severity(no_ref) == "critical"
