"""The WordLlama featurizer gives DIET one dense vector per token and one per message."""

from __future__ import annotations

import numpy as np
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_ext.dense_featurizer import WordLlamaFeaturizer


def _message(text: str) -> Message:
    message = Message(data={TEXT: text})
    tokens, offset = [], 0
    for word in text.split():
        start = text.index(word, offset)
        tokens.append(Token(word, start))
        offset = start + len(word)
    message.set(TOKENS_NAMES[TEXT], tokens)
    return message


def test_token_and_sentence_features_by_meaning() -> None:
    featurizer = WordLlamaFeaturizer({**WordLlamaFeaturizer.get_default_config(), "alias": "wl"}, "wl")
    pause, brk, bot = (_message(t) for t in ("can we pause", "can we take a break", "are you a bot"))
    featurizer.process([pause, brk, bot])
    seq, sentence = pause.get_dense_features(TEXT)
    assert seq.features.shape == (3, 256) and sentence.features.shape == (1, 256)

    def vec(m: Message) -> np.ndarray:
        return m.get_dense_features(TEXT)[1].features[0]

    assert float(vec(pause) @ vec(brk)) > float(vec(pause) @ vec(bot))
