"""The Rasa-process speedups keep Rasa's behaviour: same event classes, replies still validated,
and the action server still gets the current turn, the slots and the latest message."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_ext import speedups
from bot.rasa_ext.speedups import RECENT_TURNS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def applied():
    speedups.apply()


def test_event_classes_resolve_as_before():
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("nonsense", default=ActionExecuted) is ActionExecuted
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nonsense")


def test_action_replies_are_still_validated():
    action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
    assert action._validate_action_result(
        {"events": [{"event": "slot", "name": "a", "value": 1}], "responses": []}
    )
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list"})


def test_the_action_server_gets_the_recent_turns_and_the_domain_only_when_asked():
    domain = Domain.load(str(ROOT / "domain.yml"))
    tracker = DialogueStateTracker("p1", domain.slots)
    for i in range(50):
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"message {i}", {"name": "greet"}))
        tracker.update(SlotSet("prompt_index", float(i)))
    endpoint = EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True)
    payload = RemoteAction("action_start_checkin", endpoint)._action_call_format(tracker, domain)
    state = payload["tracker"]
    # The last RECENT_TURNS turns (risk across turns reads the patient's recent messages),
    # however long the session.
    assert [e["event"] for e in state["events"]] == ["action", "user", "slot"] * RECENT_TURNS
    assert next(e["text"] for e in state["events"] if e["event"] == "user") == f"message {50 - RECENT_TURNS}"
    assert state["latest_message"]["text"] == "message 49" and state["slots"]["prompt_index"] == 49.0
    assert "domain" not in payload
    form = RemoteAction("validate_prompt_set_form", endpoint)._action_call_format(tracker, domain)
    assert form["domain"]["forms"]["prompt_set_form"]["required_slots"] == ["prompt_answer"]
