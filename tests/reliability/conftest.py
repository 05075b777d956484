"""One real `interlude run` (SQLite, scratch data folder) for the fault-injection suite.

The suite runs in file order: bad input first, then each process killed in turn, and last the
supervisor itself (which ends the stack)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.runtime import Store
from tests.integration.stack import Stack, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="package")
def rstack(tmp_path_factory) -> Stack:
    root = tmp_path_factory.mktemp("reliability")
    (root / "data").mkdir()
    s = start_stack(root / "data", root / "console.log", INTERLUDE_SCHEDULER_INTERVAL="1")
    yield s
    s.stop()


@pytest.fixture(scope="package")
def rstore(rstack: Stack) -> Store:
    store = Store.open(rstack.settings.database_url, rstack.settings.data_dir, environ={})
    yield store
    store.core.close()


@pytest.fixture
def patient(rstore: Store):
    """A fresh consented patient in the demo clinic; returns the ref."""

    def make() -> str:
        clinic_id = rstore.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
        staff_id = rstore.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
        ref = rstore.patients.create_patient(
            clinic_id=clinic_id, therapist_id=staff_id, display_name="Rel Patient"
        ).ref
        rstore.patients.record_consent(ref, "test")
        return ref

    return make


def post_raw(stack: Stack, body: bytes, timeout: float = 120) -> tuple[int, object]:
    """POST raw bytes to the local channel (so invalid JSON and escapes reach the server as sent)."""
    req = urllib.request.Request(
        f"{stack.settings.rasa_url}/webhooks/local/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {stack.settings.api_token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode(errors="replace")
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw


def say(stack: Stack, ref: str, text: str, timeout: float = 120) -> tuple[int, str]:
    status, body = post_raw(stack, json.dumps({"sender": ref, "message": text}).encode(), timeout)
    if isinstance(body, list):
        return status, "\n".join(r.get("text") or "" for r in body)
    return status, json.dumps(body)
