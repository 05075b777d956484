"""WordLlamaFeaturizer: dense token and sentence features from the shipped WordLlama model.

The sparse featurizers only know the words in data/nlu; these 256-dimension embeddings carry
meaning, so DIET can place "could we take a break?" near "pause" without that exact phrasing
in the training data. The model is the safety detector's (bot.safety.semantic.embedder), loaded
once per process and shared; nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety.semantic import embed


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class WordLlamaFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config()}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            todo = [m for m in messages if m.get(TOKENS_NAMES[attribute])]
            if not todo:
                continue
            # One batch for every token and every whole text: WordLlama is fast in batches.
            token_lists = [[t.text for t in m.get(TOKENS_NAMES[attribute])] for m in todo]
            wholes = [
                m.get(attribute) if attribute == TEXT else " ".join(tl)
                for m, tl in zip(todo, token_lists, strict=True)
            ]
            vocab = sorted({t for tl in token_lists for t in tl})
            vectors = dict(zip(vocab, embed(vocab), strict=True)) if vocab else {}
            sentences = embed([str(w or "") for w in wholes])
            alias = self._config[FEATURIZER_CLASS_ALIAS]
            for m, tl, sentence in zip(todo, token_lists, sentences, strict=True):
                seq = np.stack([vectors[t] for t in tl]).astype(np.float32)
                m.add_features(Features(seq, FEATURE_TYPE_SEQUENCE, attribute, alias))
                m.add_features(
                    Features(sentence[None, :].astype(np.float32), FEATURE_TYPE_SENTENCE, attribute, alias)
                )
        return messages
