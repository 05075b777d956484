"""Rasa NLU component: runs Interlude's risk detector on every message.

The assessment is attached to the parse data under "risk" (offsets and rule ids only, no
patient words), where the safety policy and the safety action read it.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety.service import assess_in_request, default_detector, forget_assessed

RISK_KEY = "risk"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class RiskDetector(GraphComponent):
    """Attaches a risk assessment to each parsed message."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RiskDetector:
        # Build the detector now, so a broken lexicon stops the server at start-up.
        default_detector()
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            # The channel's inbound check assessed this very text earlier in the request.
            assessment = assess_in_request(text)
            forget_assessed()  # used: hold no patient words past the message
            message.set(RISK_KEY, assessment.to_dict(include_spans=False), add_to_output=True)
        return messages
