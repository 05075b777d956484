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


@pytest.fixture(scope="module")
def quiet_clinic(stack_store):
    """A clinic with no alert channel in alerts.yml."""
    clinic_id = stack_store.staff.ensure_clinic("quiet", "Quiet Clinic (synthetic)")
    staff_id, _ = stack_store.staff.ensure_staff(
        clinic_id, "quiet@example.invalid", "Dr Quiet", "therapist", None
    )
    return clinic_id, staff_id


def quiet_patient(stack_store, quiet_clinic) -> str:
    clinic_id, staff_id = quiet_clinic
    ref = stack_store.patients.create_patient(
        clinic_id=clinic_id, therapist_id=staff_id, display_name="Q Synthetic"
    ).ref
    stack_store.patients.record_consent(ref, "test")
    return ref


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
    stack, stack_store, new_patient, quiet_clinic
):
    alerted, quiet = new_patient(), quiet_patient(stack_store, quiet_clinic)
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
    substance = say(
        stack, quiet_patient(stack_store, quiet_clinic), "I drank a bottle of wine and took extra ketamine"
    )
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
