"""Pending flags (bot/flags/pending.py): the risk decision survives a dead action server or an
unreachable database, and becomes exactly one flag. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.escalation.config import load_alert_config
from bot.flags.pending import PendingFlags, signal_from, store_writer
from tests.conftest import _pg_admin

RISK = {
    "severity": "high",
    "categories": ["suicide"],
    "rules": [{"rule": "suicide.active", "category": "suicide", "severity": "high", "start": 0, "end": 5}],
}
WORDS = "pending-canary: I want to kill myself"


def _pending(store, data_dir) -> PendingFlags:
    return PendingFlags(data_dir / "spool" / "flags", store.vault.keyring)


def _writer(store, data_dir):
    return store_writer(
        store.patients, store.flags, store.staff, lambda: load_alert_config(data_dir, "http://127.0.0.1")
    )


def _flags(store, ref):
    return [f for f in store.flags.list_flags(actor="t", origin="t") if f.patient_ref == ref]


def test_a_pending_flag_is_written_once_by_the_reconciler(store, clinic, data_dir):
    _, _, ref = clinic
    pending = _pending(store, data_dir)
    assert pending.remember(ref, "msg-1", WORDS, RISK)
    assert not pending.remember(ref, "msg-1", WORDS, RISK)  # the policy asked twice: one record
    (record,) = (data_dir / "spool" / "flags").glob("*.flag")
    assert b"pending-canary" not in record.read_bytes()  # encrypted at rest
    assert pending.reconcile(_writer(store, data_dir)) == 0  # young: left to the safety action
    assert pending.reconcile(_writer(store, data_dir), grace=0) == 1
    assert pending.pending() == 0
    (flag,) = _flags(store, ref)
    assert flag.severity == "high"
    assert pending.reconcile(_writer(store, data_dir), grace=0) == 0


def test_the_action_and_the_reconciler_never_write_twice(store, clinic, data_dir):
    _, _, ref = clinic
    pending = _pending(store, data_dir)
    pending.remember(ref, "msg-2", WORDS, RISK)
    write = _writer(store, data_dir)
    write(ref, "msg-2", WORDS, signal_from(RISK))  # the action wrote it, then died before forget()
    assert pending.reconcile(write, grace=0) == 1  # the reconciler's write is a no-op
    (flag,) = _flags(store, ref)
    assert flag.message_count == 1


def test_a_record_whose_write_fails_is_kept(store, clinic, data_dir):
    _, _, ref = clinic
    pending = _pending(store, data_dir)
    pending.remember(ref, "msg-3", WORDS, RISK)

    def down(*args):
        raise ConnectionError("database away")

    assert pending.reconcile(down, grace=0) == 0 and pending.pending() == 1
    assert pending.reconcile(_writer(store, data_dir), grace=0) == 1 and len(_flags(store, ref)) == 1


def test_a_policy_decision_without_a_severity_still_flags_high():
    assert signal_from({"severity": "none"}).severity == "high"
    assert signal_from({}).rules == [{"rule": "policy.triggered"}]


@pytest.mark.postgres
def test_postgres_unreachable_then_back_exactly_one_flag(postgres_url, tmp_path):
    from bot.runtime import Store
    from bot.store import migrate

    migrate.upgrade(postgres_url)
    store = Store.open(postgres_url, tmp_path, environ={})
    clinic = store.staff.ensure_clinic("c", "C")
    staff, _ = store.staff.ensure_staff(clinic, "s@example.invalid", "S", "therapist", None)
    ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="P").ref
    pending = _pending(store, tmp_path)
    write = _writer(store, tmp_path)
    db_name = postgres_url.rsplit("/", 1)[1]
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS false')
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,))
    try:
        pending.remember(ref, "msg-pg", WORDS, RISK)
        assert pending.reconcile(write, grace=0) == 0 and pending.pending() == 1
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS true')
        admin.close()
    assert pending.reconcile(write, grace=0) == 1
    assert len(_flags(store, ref)) == 1
    store.core.close()


def test_a_flag_kept_by_a_channel_before_the_patient_lookup_resolves_the_identity(store, clinic, data_dir):
    _, _, ref = clinic
    pending = _pending(store, data_dir)
    store.patients.bind_identity(ref, "telegram", "4242")
    pending.remember("identity:telegram:4242", "tg-1", WORDS, RISK)
    pending.remember("identity:telegram:9999", "tg-2", WORDS, RISK)  # a chat bound to nobody
    assert pending.reconcile(_writer(store, data_dir), grace=0) == 1
    assert pending.pending() == 0  # the unbound one is removed (loudly), not retried forever
    assert len(_flags(store, ref)) == 1
