"""The whole stack on PostgreSQL: a check-in survives a restart mid-form, and a pg_dump of the
database (Rasa's events table included) holds none of the patient's words."""

from __future__ import annotations

import subprocess

import pytest

from bot.demo import DEMO_PATIENT_REF
from bot.runtime import Store
from tests.integration.stack import start_stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CANARY = "canary-pg-5512 the orchard hums in a minor key"


def test_postgres_stack_persists_conversations_encrypted(tmp_path, postgres_url):
    data = tmp_path / "data"
    first = start_stack(data, tmp_path / "console1.log", INTERLUDE_DATABASE_URL=postgres_url)
    try:
        assert "not an emergency service" in first.say(DEMO_PATIENT_REF, "hi")
        assert "Thank you. Your answer is recorded." in first.say(DEMO_PATIENT_REF, "yes")
        first.say(DEMO_PATIENT_REF, "check in")
        assert "how anxious" in first.say(DEMO_PATIENT_REF, "6")
    finally:
        assert first.stop() == 0

    # A new Rasa process must pick the conversation up from the database, mid-form.
    second = start_stack(data, tmp_path / "console2.log", INTERLUDE_DATABASE_URL=postgres_url)
    try:
        assert "mood 6/10" in second.say(DEMO_PATIENT_REF, "4", "7", CANARY)
    finally:
        assert second.stop() == 0

    store = Store.open(postgres_url, data, environ={})
    try:
        notes = [a.text for a in store.checkins.list_answers(DEMO_PATIENT_REF, actor="test", origin="test")]
        assert notes == [None, None, None, CANARY]
        export = store.rights.export_patient(DEMO_PATIENT_REF, actor="test", origin="test")
        said = [m["text"] for m in export["transcript"] if m["from"] == "user"]
        assert said == [
            "hi",
            "yes",
            "check in",
            "6",
            "4",
            "7",
            CANARY,
        ]  # from Rasa's encrypted events, across the restart
    finally:
        store.core.close()

    dump = subprocess.run(
        ["pg_dump", "--data-only", postgres_url], capture_output=True, check=True, timeout=60
    ).stdout
    assert b"COPY public.events" in dump and b"enc1:" in dump
    assert CANARY.encode() not in dump
    assert b"Alex Example" not in dump  # the demo patient's display name is encrypted too
