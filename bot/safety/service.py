"""One detector per process: the configured lexicon's rules plus the semantic layer."""

from __future__ import annotations

import logging
from functools import lru_cache

from bot.safety.detector import Detector, lexicon_paths

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def rules_detector() -> Detector:
    """The lexicon rules alone; raises LexiconError at first use if the lexicon is bad."""
    return Detector.from_files(lexicon_paths())


@lru_cache(maxsize=1)
def default_detector():  # type: ignore[no-untyped-def]  # -> CombinedDetector
    """The process-wide detector (rules + semantic layer), loaded once per process.

    The semantic model is the cached one for the current examples (`interlude train` builds
    it; if it is missing it is built here, which takes some seconds)."""
    from bot.safety.combined import CombinedDetector
    from bot.safety.semantic import embedder, ensure_semantic_model, load_model

    rules = rules_detector()
    model = load_model(ensure_semantic_model(log=logger.info))
    embedder()  # load the embeddings now, not on the first patient message
    return CombinedDetector(rules, model)
