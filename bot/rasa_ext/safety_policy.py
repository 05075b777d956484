"""SafetyPolicy: risk first, in every conversation state.

Right after each user message this policy looks at the message's risk assessment (attached by
RiskDetector, or computed here if a message arrived without one). At or above the threshold it
predicts the safety action. Its predictions are "no user" predictions with the highest
priority, which Rasa's ensemble ranks above everything else, including a form's happy-loop
prediction, so no ordinary reply can come first. After a safety action it predicts
action_listen, so nothing ordinary follows the crisis reply either. While a clinician has taken
over the conversation (slot handoff_active) it keeps the bot silent except for safety replies.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, confidence_scores_for
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME, IS_EXTERNAL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.risk_context import message_risk
from bot.safety.assessment import SEVERITIES
from bot.safety.context import takes_safety_path
from bot.safety.safe_check import parse_safe_answer
from bot.safety.service import default_detector

logger = logging.getLogger(__name__)


def pending_user_message(tracker: DialogueStateTracker) -> UserUttered | None:
    """The user message the bot has not answered yet, if the last thing that happened is one."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return event
        if isinstance(event, ActionExecuted):
            return None
    return None


def is_external(message: UserUttered) -> bool:
    """An event Interlude sent itself through Rasa's token-protected API (trigger_intent), not
    patient words. Rasa sets the flag in metadata; our channels never pass client metadata on,
    so a patient cannot forge it (typing "EXTERNAL: ..." is still an ordinary message)."""
    intent = (message.intent or {}).get("name") or ""
    return bool((message.metadata or {}).get(IS_EXTERNAL)) and intent.startswith("EXTERNAL_")


#: Sent by Interlude itself during a clinician handoff (bot/flags/handoff.py). They go to their
#: actions whatever else is going on: an active check-in form would otherwise read them as the
#: patient's answer and the clinician's words would never be delivered.
HANDOFF_ACTIONS = {
    "EXTERNAL_handoff_started": "action_handoff_started",
    "EXTERNAL_clinician_message": "action_relay_clinician_message",
    "EXTERNAL_handoff_ended": "action_handoff_ended",
}


def bot_spoke_since_user(tracker: DialogueStateTracker) -> bool:
    """Whether any bot message followed the latest user message."""
    for event in reversed(tracker.events):
        if isinstance(event, BotUttered):
            return True
        if isinstance(event, UserUttered):
            return False
    return False


def remember_pending_flag(sender_id: str, message: UserUttered, risk: dict[str, Any] | None = None) -> None:
    """Write the pending-flag record (bot/flags/pending.py) for a message taking the safety
    path, with the assessment that sent it there (read across turns where given). Never raises:
    the crisis reply must not depend on it."""
    if not message.message_id:
        return
    try:
        from bot import runtime

        risk = risk or (message.parse_data or {}).get("risk")
        risk = (
            risk
            if isinstance(risk, dict)
            else default_detector().assess(message.text or "").to_dict(include_spans=False)
        )
        runtime.pending_flags().remember(sender_id, message.message_id, message.text, risk)
    except Exception as exc:
        logger.error("could not record a pending flag for %s (%s)", sender_id, type(exc).__name__)


def safety_question_is_latest(tracker: DialogueStateTracker, pending_slot: str, question_slot: str) -> bool:
    """Whether "are you safe right now?" is the last question the bot asked: a yes or no after a
    later question (consent, confirming a data request) answers that one instead."""
    for event in reversed(tracker.events):
        if isinstance(event, SlotSet) and event.value:
            if event.key == pending_slot:
                return True
            if event.key == question_slot:
                return False
    return True


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=False
)
class SafetyPolicy(Policy):
    """Predicts the safety action for risky messages, before any other policy can answer."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "priority": 10,  # above RulePolicy (6): ties at confidence 1.0 go to us
            "threshold": "moderate",
            "safety_action": "action_safety_response",
            "followup_action": "action_safety_followup",
            "pending_slot": "safety_check_pending",
            "handoff_slot": "handoff_active",
            "question_slot": "pending_question",
            # Static crisis text in the domain, sent when a safety action produced nothing
            # (for example, the action server is down): resources must never depend on it.
            "unavailable_response": "utter_safety_unavailable",
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
    ) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        # The clinic's setting wins over the trained default, so it can change without retraining.
        threshold = os.environ.get("INTERLUDE_SAFETY_THRESHOLD") or config["threshold"]
        if threshold not in SEVERITIES[1:]:
            raise ValueError(f"SafetyPolicy threshold must be low..critical, not {threshold!r}")
        self.threshold = threshold

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return self._resource

    def _predict(self, action: str, domain: Domain) -> PolicyPrediction:
        return self._prediction(confidence_scores_for(action, 1.0, domain), is_no_user_prediction=True)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        safety = self.config["safety_action"]
        followup = self.config["followup_action"]
        unavailable = self.config["unavailable_response"]
        if tracker.latest_action_name in (safety, followup):
            if not bot_spoke_since_user(tracker):
                logger.error(
                    "%s produced no reply for %s; sending the static crisis response",
                    tracker.latest_action_name,
                    tracker.sender_id,
                )
                return self._predict(unavailable, domain)
            return self._predict(ACTION_LISTEN_NAME, domain)
        if tracker.latest_action_name == unavailable:
            return self._predict(ACTION_LISTEN_NAME, domain)

        if tracker.latest_action_name in HANDOFF_ACTIONS.values():
            return self._predict(ACTION_LISTEN_NAME, domain)

        message = pending_user_message(tracker)
        if message is not None and is_external(message):
            handoff = HANDOFF_ACTIONS.get((message.intent or {}).get("name") or "")
            if handoff is not None:
                return self._predict(handoff, domain)
        if message is None or message.text is None or is_external(message):
            return self._prediction(self._default_predictions(domain))

        # Read with the patient's recent messages (risk across turns); suicide from low up
        # takes the path too, for the screener.
        risk = message_risk(tracker, message)
        if takes_safety_path(risk, self.threshold):
            remember_pending_flag(tracker.sender_id, message, risk)  # durable before anything can fail
            return self._predict(safety, domain)
        if (
            tracker.get_slot(self.config["pending_slot"])
            and parse_safe_answer(message.text) is not None
            and safety_question_is_latest(tracker, self.config["pending_slot"], self.config["question_slot"])
        ):
            # The patient is answering "are you safe right now?": that answer goes to us. Any
            # other message is a new one (risk-checked above), answered as usual, and the
            # question stays unanswered: it is never read as "not safe".
            return self._predict(followup, domain)
        if tracker.get_slot(self.config["handoff_slot"]):
            # A clinician has taken over: the bot stays silent (only safety messages, above).
            return self._predict(ACTION_LISTEN_NAME, domain)
        return self._prediction(self._default_predictions(domain))
