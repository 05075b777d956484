"""Rasa NLU component: a literal command (bot.understanding) decides the intent before DIET's guess.

"can we pause?", "yes I agree 👍", "r u a bot", "🙂" mean one thing whatever the classifier
learned; for everything else DIET's intent stands. Placed after DIETClassifier and before
FallbackClassifier. The literal reading is attached to the parse data as "literal".
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.understanding import intent_for

LITERAL_KEY = "literal"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LiteralIntents(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LiteralIntents:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith("/"):
                continue  # a button payload already names its intent
            behaviour, intent = intent_for(text)
            if behaviour is not None:
                message.set(LITERAL_KEY, behaviour, add_to_output=True)
            if intent is None:
                continue
            guessed = message.get(INTENT) or {}
            message.set(INTENT, {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
            # The literal reading alone: a close second guess would make FallbackClassifier
            # call it ambiguous.
            message.set(
                "intent_ranking",
                [{INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}],
                add_to_output=True,
            )
            if guessed.get(INTENT_NAME_KEY) not in (None, intent):
                message.set("classifier_intent", guessed.get(INTENT_NAME_KEY), add_to_output=True)
        return messages
