"""A real database outage (PostgreSQL refusing connections): answers are spooled, encrypted,
and saved exactly once when the database is back."""

from __future__ import annotations

import pytest

from bot.checkins.saving import apply_spooled, save_checkin
from bot.runtime import Store
from bot.store import crypto, migrate
from bot.store.spool import Spool
from tests.conftest import _pg_admin

pytestmark = pytest.mark.postgres

NOTE = "spool-canary: rain on the greenhouse roof"


def _set_connections(db_name: str, allowed: bool) -> None:
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{db_name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,)
            )
    admin.close()


def test_outage_spools_then_saves_exactly_once(postgres_url, tmp_path):
    migrate.upgrade(postgres_url)
    store = Store.open(postgres_url, tmp_path, environ={})
    clinic = store.staff.ensure_clinic("c", "C")
    staff, _ = store.staff.ensure_staff(clinic, "s@example.invalid", "S", "therapist", None)
    ref = store.patients.create_patient(clinic_id=clinic, therapist_id=staff, display_name="P").ref
    spool = Spool(tmp_path / "spool", crypto.Keyring(crypto.load_master_keys(tmp_path, {}, create=False)))
    db_name = postgres_url.rsplit("/", 1)[1]
    answers = [("mood", None, 3.0), ("note", NOTE, None)]

    _set_connections(db_name, allowed=False)
    try:
        result = save_checkin(store.checkins, spool, ref, "daily", answers)
        assert not result.saved and spool.pending() == 1
        # On disk the record is encrypted.
        (record,) = (tmp_path / "spool").glob("*.rec")
        assert NOTE.encode() not in record.read_bytes()
        # Still down: nothing applied, nothing lost.
        assert spool.drain(apply_spooled(store.checkins)) == 0 and spool.pending() == 1
    finally:
        _set_connections(db_name, allowed=True)

    assert spool.drain(apply_spooled(store.checkins)) == 1 and spool.pending() == 0
    answers_saved = store.checkins.list_answers(ref, actor="t", origin="t")
    assert [(a.prompt_key, a.text, a.value) for a in answers_saved] == answers
    store.core.close()


def test_replay_is_idempotent(store, clinic, tmp_path):
    _, _, ref = clinic
    apply = apply_spooled(store.checkins)
    payload = {"ref": ref, "prompt_set": "daily", "answers": [["mood", None, 5.0]]}
    apply("rec-1", "checkin", payload)
    apply("rec-1", "checkin", payload)  # a crash after applying, before removing the file
    assert len(store.checkins.list_answers(ref, actor="t", origin="t")) == 1


def test_a_stopped_check_in_spooled_in_an_outage_is_saved_as_stopped(store, clinic, tmp_path):
    """ "Stop for today" during an outage: replayed later, it must not become a completed one."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from bot.store.models import CheckIn

    class Away:
        def record_checkin(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise OperationalError("insert", {}, Exception("database unreachable"))

    _, _, ref = clinic
    spool = Spool(tmp_path / "spool", store.vault.keyring)
    result = save_checkin(Away(), spool, ref, "daily", [("mood", None, 4.0)], None, "stopped")  # type: ignore[arg-type]
    assert not result.saved
    assert spool.drain(apply_spooled(store.checkins)) == 1
    with store.core.factory() as s:
        assert list(s.execute(select(CheckIn.status)).scalars()) == ["stopped"]
