"""The store API on SQLite and PostgreSQL: encryption at rest, audit, flags, migrations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, text

from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.store import crypto, migrate
from bot.store.errors import SchemaMissing, TextTooLong
from bot.store.models import Base

CANARY = "canary-7f3b: the lighthouse keeper sang to the moths"


def _raw_dump(database_url: str) -> bytes:
    """Every byte the database holds for our tables, as the server returns it."""
    engine = create_engine(database_url)
    out = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    out.append(value if isinstance(value, bytes) else str(value).encode())
    engine.dispose()
    return b"\n".join(out)


def test_checkin_answers_are_encrypted_at_rest_and_read_back(store, clinic, database_url, tmp_path):
    _, _, ref = clinic
    store.checkins.record_checkin(ref, "daily", [("mood", None, 7.0), ("note", CANARY, None)])

    assert CANARY.encode() not in _raw_dump(database_url)
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        for f in [db_file, db_file.with_name(db_file.name + "-wal")]:
            if f.exists():
                assert CANARY.encode() not in f.read_bytes()

    answers = store.checkins.list_answers(ref, actor="staff:1", origin="test")
    assert [(a.prompt_key, a.text, a.value) for a in answers] == [
        ("mood", None, 7.0),
        ("note", CANARY, None),
    ]
    assert all(a.prompt_set == "daily" for a in answers)


def test_every_read_of_patient_data_is_audited(store, clinic):
    _, _, ref = clinic
    store.checkins.record_checkin(ref, "daily", [("note", "hello", None)])
    store.checkins.list_answers(ref, actor="staff:42", origin="portal")
    store.patients.patient_display_name(ref, actor="staff:42", origin="portal")
    reads = [e for e in store.core.audit_events(patient_ref=ref) if e["action"].startswith("read.")]
    assert [(e["actor"], e["action"], e["origin"]) for e in reads] == [
        ("staff:42", "read.journal", "portal"),
        ("staff:42", "read.patient_identity", "portal"),
    ]


def test_display_name_is_encrypted(store, clinic, database_url):
    _, _, ref = clinic
    assert b"Sam Synthetic" not in _raw_dump(database_url)
    assert store.patients.patient_display_name(ref, actor="t", origin="test") == "Sam Synthetic"


def test_oversized_text_is_refused_and_nothing_is_stored(store, clinic):
    _, _, ref = clinic
    with pytest.raises(TextTooLong, match="20,000"):
        store.checkins.record_checkin(ref, "daily", [("mood", None, 5.0), ("note", "x" * 20_001, None)])
    assert store.checkins.list_answers(ref, actor="t", origin="test") == []


def test_a_flood_of_risk_messages_is_one_flag_with_the_highest_severity(store, clinic, database_url):
    _, _, ref = clinic
    first = store.flags.record_risk(
        ref, message_id="m1", text="I feel hopeless", signal=SignalInput("moderate", ["suicide"], [])
    )
    assert first.created and first.deadline_at is not None
    for i in range(20):
        store.flags.record_risk(
            ref, message_id=f"m{i + 2}", text="again", signal=SignalInput("moderate", ["suicide"], [])
        )
    worse = store.flags.record_risk(
        ref, message_id="mx", text="tonight", signal=SignalInput("critical", ["suicide"], [])
    )
    assert worse.flag_id == first.flag_id and worse.escalated and not worse.created
    # The tighter deadline of the worse severity applies (critical 5 min vs moderate a day).
    assert worse.deadline_at < first.deadline_at
    assert worse.deadline_at - first.deadline_at < -timedelta(hours=23)

    flags = store.flags.list_flags(actor="staff:1", origin="test")
    assert len(flags) == 1
    assert flags[0].severity == "critical" and flags[0].message_count == 22
    assert [s["text"] for s in flags[0].signals][:1] == ["I feel hopeless"]
    assert b"I feel hopeless" not in _raw_dump(database_url)
    # Alert outbox rows: one for opening, one for the escalation, not twenty-two.
    engine = create_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM alert_deliveries")).scalar_one()
    engine.dispose()
    assert n == 2


def test_acknowledging_a_flag_is_audited(store, clinic):
    _, staff_id, ref = clinic
    res = store.flags.record_risk(ref, message_id="m", text="t", signal=SignalInput("high", ["suicide"], []))
    store.flags.acknowledge_flag(res.flag_id, staff_id, origin="cli")
    assert store.flags.open_flag_severity(ref) == "high"  # acknowledged is not resolved
    events = [e for e in store.core.audit_events(patient_ref=ref) if e["action"] == "risk_flag.acknowledge"]
    assert events and events[0]["actor"] == f"staff:{staff_id}"


def test_wrong_master_key_refuses_to_open(store, database_url, data_dir):
    other = crypto.Fernet.generate_key().decode()
    with pytest.raises(crypto.KeyError_, match="does not match"):
        Store.open(database_url, data_dir, environ={"INTERLUDE_MASTER_KEY": other})


def test_missing_key_file_with_existing_data_is_an_error_not_a_new_key(store, database_url, data_dir):
    key_file = crypto.master_key_path(data_dir)
    key_file.unlink()
    with pytest.raises(crypto.KeyError_, match="missing"):
        Store.open(database_url, data_dir, environ={})
    assert not key_file.exists()


def test_key_file_is_owner_only(store, data_dir):
    assert (crypto.master_key_path(data_dir).stat().st_mode & 0o077) == 0


def test_unmigrated_database_is_reported(tmp_path):
    with pytest.raises(SchemaMissing, match="interlude db upgrade"):
        Store.open(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path, environ={})


def test_migrations_produce_exactly_the_models_schema_and_downgrade(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    migrate.upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    migrate.downgrade(database_url, "base")
    meta = MetaData()
    meta.reflect(engine)
    assert set(meta.tables) <= {"alembic_version"}
    engine.dispose()


def test_master_key_rotation_rewraps_data_keys():
    old_key, new_key = crypto.Fernet.generate_key(), crypto.Fernet.generate_key()
    data_key = crypto.Keyring.new_data_key()
    wrapped = crypto.Keyring([old_key]).wrap(data_key)
    rewrapped = crypto.Keyring([new_key, old_key]).rewrap(wrapped)
    assert crypto.Keyring([new_key]).unwrap(rewrapped) == data_key
    with pytest.raises(crypto.KeyError_):
        crypto.Keyring([new_key]).unwrap(wrapped)


def test_events_table_mirrors_rasas_tracker_store():
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.store.models import RasaEvent

    def shape(table):
        return {c.name: (type(c.type).__name__, c.nullable, c.primary_key) for c in table.columns}

    # Rasa's columns, unchanged, plus our conversation order and session number.
    ours, rasas = shape(RasaEvent.__table__), shape(SQLTrackerStore.SQLEvent.__table__)
    assert {k: v for k, v in ours.items() if k in rasas} == rasas
    assert set(ours) - set(rasas) == {"seq", "session_no"}


def test_conversation_encryption_uses_the_patients_key(store, clinic):
    _, _, ref = clinic
    token = store.vault.encrypt_conversation(ref, '{"text": "hello"}')
    assert "hello" not in token
    assert store.vault.decrypt_conversation(ref, token) == '{"text": "hello"}'
    # Another conversation (not a patient) gets its own, persistent fallback key.
    other = store.vault.encrypt_conversation("not-a-patient", "x")
    with pytest.raises(Exception):  # noqa: B017 - InvalidToken from cryptography
        store.vault.decrypt_conversation(ref, other)
    assert store.vault.decrypt_conversation("not-a-patient", other) == "x"


def test_resolving_a_flag_records_who_and_when(store, clinic):
    _, staff_id, ref = clinic
    res = store.flags.record_risk(ref, message_id="m", text="t", signal=SignalInput("high", ["suicide"], []))
    store.flags.resolve_flag(res.flag_id, staff_id, origin="cli")
    assert store.flags.open_flag_severity(ref) is None
    assert store.flags.list_flags(actor="t", origin="t") == []
    # A new risk message after resolution opens a new flag.
    again = store.flags.record_risk(
        ref, message_id="m2", text="t2", signal=SignalInput("moderate", ["suicide"], [])
    )
    assert again.created and again.flag_id != res.flag_id
