"""Enrollment codes, web chat tokens and the enroll command's core, on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
from datetime import timedelta

import pytest

from bot.config import load_settings
from bot.patients.enrollment import EnrollmentError, enroll_patient
from bot.patients.store import secret_hash
from bot.store.db import transaction
from bot.store.errors import CredentialRefused
from bot.store.models import EnrollmentCode, WebChatToken


def test_a_code_binds_one_chat_once_and_is_stored_only_as_a_hash(store, clinic):
    _, _, ref = clinic
    code = store.patients.issue_enrollment_code(ref, ttl=timedelta(days=7), actor="test", origin="test")
    assert len(code) >= 16 and all(c.isalnum() or c in "-_" for c in code)  # fits a t.me deep link
    with transaction(store.core.factory) as s:
        assert s.query(EnrollmentCode).one().code_hash == secret_hash(code)
    assert store.patients.redeem_enrollment_code(code, "telegram", "111").ref == ref
    assert store.patients.patient_for_identity("telegram", "111").ref == ref
    with pytest.raises(CredentialRefused) as used:
        store.patients.redeem_enrollment_code(code, "telegram", "222")
    assert used.value.reason == "used"
    with pytest.raises(CredentialRefused) as unknown:
        store.patients.redeem_enrollment_code("nope", "telegram", "222")
    assert unknown.value.reason == "unknown"
    assert store.patients.patient_for_identity("telegram", "222") is None


def test_expired_codes_and_chats_bound_elsewhere_change_nothing(store, clinic):
    clinic_id, staff_id, ref = clinic
    other = store.patients.create_patient(
        clinic_id=clinic_id, therapist_id=staff_id, display_name="Other"
    ).ref
    expired = store.patients.issue_enrollment_code(
        ref, ttl=timedelta(seconds=-1), actor="test", origin="test"
    )
    with pytest.raises(CredentialRefused) as exc:
        store.patients.redeem_enrollment_code(expired, "telegram", "333")
    assert exc.value.reason == "expired"
    store.patients.redeem_enrollment_code(
        store.patients.issue_enrollment_code(other, ttl=timedelta(days=1), actor="t", origin="t"),
        "telegram",
        "333",
    )
    fresh = store.patients.issue_enrollment_code(ref, ttl=timedelta(days=1), actor="t", origin="t")
    with pytest.raises(CredentialRefused) as taken:
        store.patients.redeem_enrollment_code(fresh, "telegram", "333")
    assert taken.value.reason == "bound_elsewhere"
    assert store.patients.patient_for_identity("telegram", "333").ref == other
    assert (
        store.patients.redeem_enrollment_code(fresh, "telegram", "444").ref == ref
    )  # the code was not used up


def test_concurrent_redemptions_of_one_code_bind_exactly_one_chat(store, clinic):
    _, _, ref = clinic
    code = store.patients.issue_enrollment_code(ref, ttl=timedelta(days=1), actor="t", origin="t")

    def attempt(chat: int) -> str:
        try:
            store.patients.redeem_enrollment_code(code, "telegram", str(chat))
            return "bound"
        except CredentialRefused as exc:
            return exc.reason

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(1000, 1016)))
    assert results.count("bound") == 1 and set(results) <= {"bound", "used"}
    assert [
        store.patients.patient_for_identity("telegram", str(c)) is not None for c in range(1000, 1016)
    ].count(True) == 1


def test_web_tokens_verify_revoke_expire_and_replace(store, clinic):
    _, _, ref = clinic
    first = store.patients.issue_web_token(ref, ttl=timedelta(days=90), actor="t", origin="t")
    assert store.patients.patient_for_web_token(first).ref == ref
    second = store.patients.issue_web_token(ref, ttl=timedelta(days=90), actor="t", origin="t")
    with pytest.raises(CredentialRefused) as replaced:
        store.patients.patient_for_web_token(first)
    assert replaced.value.reason == "revoked"
    assert store.patients.patient_for_web_token(second).ref == ref
    assert store.patients.revoke_web_tokens(ref, actor="t", origin="t") == 1
    with pytest.raises(CredentialRefused):
        store.patients.patient_for_web_token(second)
    stale = store.patients.issue_web_token(ref, ttl=timedelta(seconds=-1), actor="t", origin="t")
    with pytest.raises(CredentialRefused) as expired:
        store.patients.patient_for_web_token(stale)
    assert expired.value.reason == "expired"
    with transaction(store.core.factory) as s:
        assert all(len(t.token_hash) == 64 for t in s.query(WebChatToken))
    actions = [e["action"] for e in store.core.audit_events(patient_ref=ref)]
    assert actions.count("webchat.token_issue") == 3 and "webchat.token_revoke" in actions


def test_deleting_a_patient_removes_their_links(store, clinic):
    _, _, ref = clinic
    token = store.patients.issue_web_token(ref, ttl=timedelta(days=1), actor="t", origin="t")
    store.patients.redeem_enrollment_code(
        store.patients.issue_enrollment_code(ref, ttl=timedelta(days=1), actor="t", origin="t"),
        "telegram",
        "555",
    )
    store.rights.delete_patient(ref, actor="t", origin="t")
    with pytest.raises(CredentialRefused):
        store.patients.patient_for_web_token(token)
    assert store.patients.patient_for_identity("telegram", "555") is None


def test_reminders_pause_and_resume_are_audited(store, clinic):
    _, _, ref = clinic
    store.patients.set_reminders_paused(ref, True, origin="telegram")
    assert store.patients.reminders_paused(ref)
    store.patients.set_reminders_paused(ref, False, origin="telegram")
    assert not store.patients.reminders_paused(ref)
    actions = [e["action"] for e in store.core.audit_events(patient_ref=ref)]
    assert ["reminders.pause", "reminders.resume"] == [a for a in actions if a.startswith("reminders.")]


def test_enroll_patient_validates_before_creating_anything(store, clinic, tmp_path):
    settings = load_settings(
        {"INTERLUDE_DATA_DIR": str(tmp_path / "d"), "INTERLUDE_TELEGRAM_BOT_USERNAME": "@clinic_bot"},
        cwd=tmp_path,
    )
    before = len(store.core.audit_events())
    for kwargs, message in [
        ({"timezone": "Nowhere/Else"}, "Unknown time zone"),
        ({"locale": "EN_us"}, "should look like"),
        ({"name": ""}, "name is empty"),
        ({"name": "x" * 201}, "limited to 200"),
        ({"therapist_email": "ghost@example.invalid"}, "No staff account"),
    ]:
        args = {"therapist_email": "t@example.invalid", "name": "Pat", **kwargs}
        with pytest.raises(EnrollmentError, match=message):
            enroll_patient(store.patients, store.staff, settings, actor="t", origin="t", **args)
    assert len(store.core.audit_events()) == before
    links = enroll_patient(
        store.patients,
        store.staff,
        settings,
        therapist_email="T@Example.invalid",
        name="Pat",
        timezone="Asia/Tokyo",
        actor="t",
        origin="t",
    )
    assert links.telegram_link == f"https://t.me/clinic_bot?start={links.enrollment_code}"
    assert links.web_chat_url.startswith("http://127.0.0.1:8000/chat#token=")
    assert store.patients.find_patient(links.patient_id).timezone == "Asia/Tokyo"
    assert (
        store.patients.patient_for_web_token(links.web_chat_url.split("#token=")[1]).ref == links.patient_id
    )
