"""Three per-message costs of Rasa 3.6 that buy Interlude nothing, removed in the Rasa process.

Found by profiling the Rasa server per message (py-spy, see README "Performance"):

- Rebuilding a tracker looks up every event's class by walking all Event subclasses, once per
  event (about 9% of the server's CPU). The lookup is cached by type name.
- Every action server reply is validated with `jsonschema.validate`, which first re-checks the
  schema itself (about 11%). The validator is built once; replies are still validated.
- Every action call serialises the whole session's events for the action server, which reads
  only the last few turns (latest message, slots, active loop, the events since the last
  `action_listen` that rasa_sdk's form validation looks at, and the patient's recent messages
  that risk across turns reads, bot/safety/context.py). Only the last RECENT_TURNS turns are
  sent, and the domain only to the action that reads it (endpoints.yml
  `enable_selective_domain`, domain.yml `send_domain`), serialised once.

`apply()` is called by bot/rasa_ext/serve.py before Rasa starts; each patch keeps Rasa's
behaviour and signature.
"""

from __future__ import annotations

from typing import Any

from bot.safety.context import MAX_TURNS

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    _cache_event_types()
    _validate_with_one_validator()
    _send_recent_turns_only()


def _cache_event_types() -> None:
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    cache: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = cache.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                cache[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def _validate_with_one_validator() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, here, instead of on every reply
    validator = cls(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your response "
                f"from the Action endpoint is valid. For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


#: Turns sent to the action server: the current one plus the earlier ones that risk across
#: turns reads (bot.safety.context.MAX_TURNS), so the cost stays bounded by a constant.
RECENT_TURNS = MAX_TURNS + 1


def recent_turns(events: list[Any], turns: int = RECENT_TURNS) -> list[Any]:
    """The events from the `turns`-th last `action_listen` on (all of them if there are fewer)."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    seen = 0
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME:
            seen += 1
            if seen == turns:
                return events[i:]
    return events


def _send_recent_turns_only() -> None:
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    domains: dict[int, tuple[Any, dict[str, Any]]] = {}

    def domain_dict(domain: Any) -> dict[str, Any]:
        # The domain is fixed for a loaded model; Rasa re-serialised it for every call.
        hit = domains.get(id(domain))
        if hit is None or hit[0] is not domain:
            domains.clear()
            hit = domains[id(domain)] = (domain, domain.as_dict())
        return hit[1]

    def _action_call_format(self: RemoteAction, tracker: Any, domain: Any) -> dict[str, Any]:
        # Rasa's payload (rasa/core/actions/action.py), with the last few turns' events only.
        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = [e.as_dict() for e in recent_turns(list(tracker.events))]
        result = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "version": rasa.__version__,
        }
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(
            self.name()
        ):
            result["domain"] = domain_dict(domain)
        return result

    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]
