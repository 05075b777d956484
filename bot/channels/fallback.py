"""When the assistant itself cannot answer a risky message, the channel answers on its own.

Rasa needs its database (the conversation history lives there) and its model; if handling a
message fails (database unreachable, Rasa erroring), a risky message must still get crisis
resources at once, and the decision to flag it must still be kept. The channel then:
- records a pending flag (bot/flags/pending.py) keyed by the same message id Rasa would use, so
  the escalation worker writes it exactly once when the database is back;
- sends the same static crisis text Rasa sends when the safety action cannot run
  (`utter_safety_unavailable` in domain.yml), which says honestly that the care team may not
  have been told yet.
No Rasa imports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bot.config import PROJECT_ROOT
from bot.yamlfile import read_yaml

logger = logging.getLogger(__name__)

UNAVAILABLE_RESPONSE = "utter_safety_unavailable"


@lru_cache(maxsize=1)
def unavailable_crisis_text() -> str:
    domain = read_yaml(PROJECT_ROOT / "domain.yml", RuntimeError)
    return str(domain["responses"][UNAVAILABLE_RESPONSE][0]["text"])


def keep_flag(sender: str, message_id: str, text: str | None, risk: Mapping[str, Any] | None) -> bool:
    """Record the pending flag; never raises (the crisis reply must not depend on it)."""
    try:
        from bot import runtime

        runtime.pending_flags().remember(sender, message_id, text, dict(risk or {"severity": "high"}))
        return True
    except Exception as exc:
        logger.error("could not keep a pending flag for %s (%s)", sender, type(exc).__name__)
        return False
