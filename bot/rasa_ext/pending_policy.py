"""PendingQuestionPolicy: a reply to a question Interlude is waiting on goes to its action.

When the slot `pending_question` names a question ("consent", or "screener" for the C-SSRS
questions), the next patient message is routed to that question's action (`action_answer_pending`
by default, `action_screener_answer` for the screener), whatever the classifier thinks it is. It ranks
below SafetyPolicy (a risky reply still gets the safety path first) and above the rules.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, confidence_scores_for
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.safety_policy import is_external, pending_user_message


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
        if tracker.latest_action_name in {self.config["action"], *routes.values()}:
            return self._prediction(
                confidence_scores_for(ACTION_LISTEN_NAME, 1.0, domain), is_no_user_prediction=True
            )
        message = pending_user_message(tracker)
        if (
            message is None
            or message.text is None
            or is_external(message)
            or not tracker.get_slot(self.config["slot"])
        ):
            return self._prediction(self._default_predictions(domain))
        action = routes.get(str(tracker.get_slot(self.config["slot"])), self.config["action"])
        return self._prediction(confidence_scores_for(action, 1.0, domain), is_no_user_prediction=True)
