"""The issue's requests over the real stack: data requests confirmed, recorded and carried out;
a word with the therapist; reminder times moved by quiet hours said honestly; crisis numbers
from the time zone when no locale is given."""

from __future__ import annotations

import json

import pytest

from bot.demo import DEMO_THERAPIST_EMAIL
from tests.integration.test_portal import demo_password, sign_in

pytestmark = pytest.mark.integration


def test_a_data_request_is_confirmed_recorded_and_carried_out(conv_stack, conv_store, harness, tmp_path):
    ref = harness.prepare("idle", "data_export")
    staff = conv_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    reply = conv_stack.say(ref, "can I have a copy of my data?")
    assert "send you a copy" in reply
    # Something else than yes/no is asked again, and never kept as an entry.
    assert "yes or a no" in conv_stack.say(ref, "hmm let me see")
    assert "within 30 days" in conv_stack.say(ref, "yes please")
    assert conv_store.checkins.list_answers(ref, actor="test", origin="test") == []
    assert [(r.kind, r.status) for r in conv_store.requests.open_requests_for(staff) if r.ref == ref] == [
        ("export", "open")
    ]
    assert any(e["action"] == "request.export" for e in conv_store.core.audit_events(patient_ref=ref))
    today = sign_in(conv_stack, DEMO_THERAPIST_EMAIL, demo_password(conv_stack)).get("/portal").text
    assert f"interlude patient export {ref}" in today
    result = conv_stack.cli("patient", "export", ref, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "request for a copy is marked done" in result.stdout
    assert [r for r in conv_store.requests.open_requests_for(staff) if r.ref == ref] == []


def test_a_declined_delete_request_records_nothing(conv_stack, conv_store, harness):
    ref = harness.prepare("idle", "data_delete")
    assert "delete everything" in conv_stack.say(ref, "delete my data")
    assert "haven't asked for anything" in conv_stack.say(ref, "no")
    assert conv_store.requests.patient_requests(ref, actor="test", origin="test") == []


def test_talk_to_a_person_is_a_request_for_the_therapist(conv_stack, conv_store, harness):
    ref = harness.prepare("idle", "human")
    assert "asked your therapist" in conv_stack.say(ref, "can I talk to a real person")
    staff = conv_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    assert [r.kind for r in conv_store.requests.open_requests_for(staff) if r.ref == ref] == ["contact"]


def test_a_reminder_time_in_quiet_hours_is_confirmed_as_the_real_time(conv_stack, harness):
    ref = harness.prepare("idle", "reminder_set_time")
    reply = conv_stack.say(ref, "check in with me every day at 01:39")
    assert "08:00" in reply and "quiet hours" in reply, reply
    assert "around 01:39" not in reply


def test_crisis_numbers_follow_the_time_zone_without_a_locale(conv_stack, conv_store):
    result = conv_stack.cli(
        "patient",
        "enroll",
        "--therapist",
        DEMO_THERAPIST_EMAIL,
        "--name",
        "Lon Don",
        "--timezone",
        "Europe/London",
    )
    assert result.returncode == 0, result.stderr
    ref = json.loads(result.stdout)["patient_id"]
    assert conv_store.patients.find_patient(ref).locale == "en-GB"
    hello = conv_stack.say(ref, "hi")
    assert "116 123" in hello and "988" not in hello
    page = (
        sign_in(conv_stack, DEMO_THERAPIST_EMAIL, demo_password(conv_stack))
        .get(f"/portal/patients/{ref}")
        .text
    )
    assert "Crisis numbers this patient gets (en-GB)" in page and "116 123" in page
