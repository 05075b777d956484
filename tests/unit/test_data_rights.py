"""Export and crypto-shredding delete of one patient, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat

import pytest
from sqlalchemy import create_engine, text

from bot.exports import write_export
from bot.flags.store import SignalInput
from bot.store.errors import NotFound

NOTE = "export-canary: the kettle sang at dawn"


def _seed(store, ref):
    store.checkins.record_checkin(ref, "daily", [("mood", None, 4.0), ("note", NOTE, None)])
    store.flags.record_risk(
        ref,
        message_id="m1",
        text="I feel hopeless and trapped",
        signal=SignalInput("moderate", ["suicide"], [{"rule": "suicide.passive"}]),
    )
    # a Rasa event, as the encrypted tracker store writes it
    token = "enc1:" + store.vault.encrypt_conversation(
        ref, json.dumps({"event": "user", "text": "hello there"})
    )
    engine = store.core.engine
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (sender_id, type_name, timestamp, data, seq, session_no)"
                " VALUES (:s, 'user', 1.0, :d, 1, 0)"
            ),
            {"s": ref, "d": token},
        )


def test_export_holds_everything_decrypted_and_is_audited(store, clinic, tmp_path):
    _, _, ref = clinic
    _seed(store, ref)
    export = store.rights.export_patient(ref, actor="cli:admin", origin="cli")
    assert export["patient"]["display_name"] == "Sam Synthetic"
    answers = export["checkins"][0]["answers"]
    assert [(a["prompt_key"], a["text"], a["value"]) for a in answers] == [
        ("mood", None, 4.0),
        ("note", NOTE, None),
    ]
    assert export["risk_flags"][0]["signals"][0]["text"] == "I feel hopeless and trapped"
    assert export["transcript"] == [{"at": 1.0, "from": "user", "text": "hello there"}]
    assert any(e["action"] == "export.patient" for e in store.core.audit_events(patient_ref=ref))

    json_path, html_path = write_export(export, tmp_path / "out")
    assert json.loads(json_path.read_text())["checkins"][0]["answers"][1]["text"] == NOTE
    html = html_path.read_text()
    assert NOTE in html and "I feel hopeless and trapped" in html and "hello there" in html
    for path in (json_path, html_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_export_escapes_patient_text_in_html(store, clinic, tmp_path):
    _, _, ref = clinic
    store.checkins.record_checkin(ref, "daily", [("note", "<script>alert(1)</script>", None)])
    _, html_path = write_export(store.rights.export_patient(ref, actor="t", origin="t"), tmp_path)
    assert "<script>alert(1)</script>" not in html_path.read_text()


def test_delete_crypto_shreds_and_removes_identities(store, clinic, database_url):
    _, _, ref = clinic
    _seed(store, ref)
    store.patients.bind_identity(ref, "telegram", "12345")
    store.rights.delete_patient(ref, actor="cli:admin", origin="cli")

    assert store.patients.find_patient(ref) is None
    with pytest.raises(NotFound):
        store.checkins.list_answers(ref, actor="t", origin="t")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT wrapped_key, display_name_enc, status, id FROM patients WHERE ref = :r"), {"r": ref}
        ).one()
        assert row[0] is None and row[1] is None and row[2] == "deleted"
        assert conn.execute(text("SELECT count(*) FROM channel_identities")).scalar_one() == 0
        assert (
            conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :r"), {"r": ref}).scalar_one()
            == 0
        )
        actions = [
            r[0]
            for r in conn.execute(
                text("SELECT action FROM audit_log WHERE patient_id = :p ORDER BY id"), {"p": row[3]}
            )
        ]
    engine.dispose()
    assert actions[-1] == "patient.delete"
