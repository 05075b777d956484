"""PendingQuestionPolicy: a reply to a question Interlude is waiting on goes to its action.

When the slot `pending_question` names a question ("consent", confirming a data request, or
"screener" for the C-SSRS questions), the next patient message is routed to that question's action
(`action_answer_pending` by default, `action_screener_answer` for the screener), whatever the
classifier thinks it is. Right after the bot spoke about reminders, a bare time ("10pm") goes to
action_reminders. It ranks
below SafetyPolicy (a risky reply still gets the safety path first) and above the rules.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, confidence_scores_for
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.safety_policy import is_external, pending_user_message
from bot.schedule.controls import parse_reminder_command

#: The bot's last action before the patient's message, when that action asked about reminders.
REMINDER_TALK = "action_reminders"


def action_before_user(tracker: DialogueStateTracker) -> str | None:
    """The last action (other than listening) before the latest patient message."""
    seen_user = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if seen_user:
                return None
            seen_user = True
        elif seen_user and isinstance(event, ActionExecuted) and event.action_name != ACTION_LISTEN_NAME:
            return event.action_name
    return None


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=False
)
class PendingQuestionPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "priority": 8,
            "slot": "pending_question",
            "action": "action_answer_pending",
            "actions": {"screener": "action_screener_answer"},
        }

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        routes = dict(self.config.get("actions") or {})
        answered = tracker.latest_action_name in {self.config["action"], *routes.values()}
        # After reminder talk outside a check-in, listen: the rules only cover it for the intents
        # they name, and a "10pm" this policy routed may have been classified as anything.
        answered = answered or (tracker.latest_action_name == REMINDER_TALK and not tracker.active_loop_name)
        if answered:
            return self._prediction(
                confidence_scores_for(ACTION_LISTEN_NAME, 1.0, domain), is_no_user_prediction=True
            )
        message = pending_user_message(tracker)
        if message is None or message.text is None or is_external(message):
            return self._prediction(self._default_predictions(domain))
        if not tracker.get_slot(self.config["slot"]):
            # Reminder talk: right after the bot spoke about reminders, "10pm" or "in 30 mins"
            # answers it (outside a check-in; inside one the check-in reads its own messages).
            if (
                not tracker.active_loop_name
                and action_before_user(tracker) == REMINDER_TALK
                and parse_reminder_command(message.text, in_reminder_talk=True) is not None
            ):
                return self._prediction(
                    confidence_scores_for(REMINDER_TALK, 1.0, domain), is_no_user_prediction=True
                )
            return self._prediction(self._default_predictions(domain))
        action = routes.get(str(tracker.get_slot(self.config["slot"])), self.config["action"])
        return self._prediction(confidence_scores_for(action, 1.0, domain), is_no_user_prediction=True)
