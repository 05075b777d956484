"""The safety policy's view of risk across turns: the latest message read with the patient's
recent messages (bot/safety/context.py decides; this only reads Rasa's tracker)."""

from __future__ import annotations

from typing import Any

from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.safety.context import MAX_TURNS, in_context
from bot.safety.service import default_detector


def message_risk(tracker: DialogueStateTracker, message: UserUttered) -> dict[str, Any]:
    """The message's assessment (attached by RiskDetector, or made here), in context."""
    risk = (message.parse_data or {}).get("risk")
    if not isinstance(risk, dict) or "severity" not in risk:
        risk = default_detector().assess(message.text or "").to_dict(include_spans=False)
    users = [e for e in tracker.events if isinstance(e, UserUttered) and e.text][-(MAX_TURNS + 1) :]
    answering = tracker.get_slot("pending_question") == "screener"
    return in_context([e.as_dict() for e in users], dict(risk), answering_screener=answering)
