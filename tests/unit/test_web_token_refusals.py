"""Which web chat tokens no longer open a chat: the read the web chat makes before every reply
and in its sweep of open sockets (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

ISSUE = {"actor": "test", "origin": "test"}


def test_refusals_name_revoked_replaced_expired_deleted_and_unknown_tokens(store, clinic):
    clinic_id, staff_id, ref = clinic
    first = store.patients.issue_web_token(ref, ttl=timedelta(days=1), **ISSUE)
    assert store.patients.web_token_refusals([first]) == {}
    second = store.patients.issue_web_token(ref, ttl=timedelta(days=1), **ISSUE)  # `patient links`
    assert store.patients.web_token_refusals([first, second]) == {first: "revoked"}
    store.patients.revoke_web_tokens(ref, **ISSUE)  # `patient revoke-web`
    assert store.patients.web_token_refusals([second]) == {second: "revoked"}

    expired = store.patients.issue_web_token(ref, ttl=timedelta(seconds=-1), **ISSUE)
    assert store.patients.web_token_refusals([expired, "garbage"]) == {
        expired: "expired",
        "garbage": "unknown",
    }

    other = store.patients.create_patient(clinic_id=clinic_id, therapist_id=staff_id, display_name="O").ref
    live = store.patients.issue_web_token(other, ttl=timedelta(days=1), **ISSUE)
    assert store.patients.web_token_refusals([live]) == {}
    store.rights.delete_patient(other, **ISSUE)
    assert store.patients.web_token_refusals([live]) == {live: "unknown"}
    assert store.patients.web_token_refusals([]) == {}
