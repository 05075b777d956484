"""A withdrawn web link stops listening: idle sockets on a revoked, replaced, deleted or expired
link are disconnected within seconds (the channel sweeps open sockets against the store, since
links are withdrawn by other processes), and nothing the bot says reaches them afterwards.
Also the socket.io token attacks of the security suite (tests/security/), on the shared stack."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import socketio

from bot.flags.handoff import RasaApi
from tests.integration.test_webchat import Probe, token_of

pytestmark = pytest.mark.integration

#: The sweep runs every 2 s; a loaded test machine gets generous slack.
PROMPT = 20.0


def wait_disconnected(probe: Probe, timeout: float = PROMPT) -> float:
    start = time.monotonic()
    while probe.connected and time.monotonic() - start < timeout:
        time.sleep(0.1)
    return time.monotonic() - start


def test_revoke_web_disconnects_an_idle_socket(stack, enroll):
    links = enroll()
    idle = Probe(stack, token_of(links["web_chat_url"]))
    assert idle.connected
    result = stack.cli("patient", "revoke-web", links["patient_id"])
    assert result.returncode == 0, result.stderr
    took = wait_disconnected(idle)
    assert not idle.connected
    assert idle.errors and idle.errors[-1]["reason"] == "revoked"
    print(f"idle socket disconnected {took:.1f} s after revoke-web returned")


def test_new_links_disconnect_the_old_socket_and_a_checkin_reaches_only_the_new_one(
    stack, stack_store, enroll
):
    links = enroll()
    ref = links["patient_id"]
    stack_store.patients.record_consent(ref, "test")
    old = Probe(stack, token_of(links["web_chat_url"]))
    assert old.connected
    assert old.say("hello")  # the web chat becomes the patient's latest channel
    result = stack.cli("patient", "links", ref)
    assert result.returncode == 0, result.stderr
    new = Probe(stack, token_of(json.loads(result.stdout)["web_chat_url"]))
    assert new.connected
    time.sleep(1)
    RasaApi(stack.settings.rasa_url, stack.settings.api_token).trigger_intent(
        ref, "EXTERNAL_checkin_due", {"prompt_set": "daily"}
    )
    deadline = time.monotonic() + 60
    while not any("mood" in m.get("text", "") for m in new.bot) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any("mood" in m.get("text", "") for m in new.bot), new.bot
    wait_disconnected(old)
    assert not old.connected and old.errors[-1]["reason"] == "revoked"
    # Not one word of the check-in went to the replaced link.
    assert not any("mood" in m.get("text", "") for m in old.bot), old.bot
    new.close()


def test_deleting_the_patient_and_expiry_disconnect_sockets(stack, stack_store, enroll):
    links = enroll()
    ref = links["patient_id"]
    probe = Probe(stack, token_of(links["web_chat_url"]))
    assert probe.connected
    stack_store.rights.delete_patient(ref, actor="test", origin="test")
    wait_disconnected(probe)
    assert not probe.connected and probe.errors[-1]["reason"] == "unknown"

    other = enroll()["patient_id"]
    short = stack_store.patients.issue_web_token(other, ttl=timedelta(seconds=4), actor="test", origin="test")
    probe = Probe(stack, short)
    assert probe.connected
    wait_disconnected(probe)
    assert not probe.connected and probe.errors[-1]["reason"] == "expired"


def test_socketio_connect_and_message_with_bad_tokens(stack, stack_store, enroll):
    """Missing, garbage, expired, revoked and another patient's token: refused at connect, and
    a message sent on a socket whose link is withdrawn mid-way is refused and not stored."""
    for token, reason in ((None, "missing"), ("", "missing"), ("x" * 5000, "unknown"), ("../../", "unknown")):
        assert Probe(stack, token).refused["data"]["reason"] == reason, token
    links = enroll()
    ref = links["patient_id"]
    expired = stack_store.patients.issue_web_token(
        ref, ttl=timedelta(seconds=-1), actor="test", origin="test"
    )
    assert Probe(stack, expired).refused["data"]["reason"] == "expired"
    token = stack_store.patients.issue_web_token(ref, ttl=timedelta(days=1), actor="test", origin="test")
    probe = Probe(stack, token)
    assert probe.connected
    stack_store.patients.revoke_web_tokens(ref, actor="test", origin="test")
    try:  # refused on arrival, unless the sweep already closed the socket
        probe.say("canary-withdrawn-91c2 should not be kept", wait=5)
    except socketio.exceptions.BadNamespaceError:
        pass
    assert not any("canary" in (m.get("text") or "") for m in probe.bot)
    transcript = stack_store.rights.export_patient(ref, actor="test", origin="test")["transcript"]
    assert not any("canary-withdrawn-91c2" in (m["text"] or "") for m in transcript)
    assert Probe(stack, token).refused["data"]["reason"] == "revoked"
