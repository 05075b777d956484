"""One detector per process: the configured lexicon's rules plus the semantic layer."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from bot.safety.detector import DEFAULT_LEXICON, Detector

logger = logging.getLogger(__name__)


def lexicon_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """The base lexicon plus any clinic extensions (INTERLUDE_SAFETY_LEXICON_EXTRA, os.pathsep-separated)."""
    env = os.environ if environ is None else environ
    paths = [Path(env.get("INTERLUDE_SAFETY_LEXICON", "") or DEFAULT_LEXICON)]
    extra = env.get("INTERLUDE_SAFETY_LEXICON_EXTRA", "")
    paths += [Path(p) for p in extra.split(os.pathsep) if p.strip()]
    return paths


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
