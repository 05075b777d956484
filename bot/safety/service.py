"""One detector per process: the configured lexicon's rules plus the semantic layer."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

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


#: The text last assessed in this request, and its assessment. A patient message is read by the
#: channel's inbound check and then by the NLU pipeline in the same request (one asyncio task,
#: one context), and assessing it twice was 4-5% of the Rasa server's CPU a message. Only an
#: identical text is ever answered from it, and the detector depends on the text alone, so the
#: answer is the one a fresh assessment gives. The NLU component forgets it once used; a later
#: request on the same keep-alive connection (Sanic serves those in one task) may still find a
#: text the pipeline never read (a refused over-long message), and only for that same text.
_last_assessed: ContextVar[tuple[str, Any] | None] = ContextVar("interlude_last_assessed", default=None)


def assess_in_request(text: str):  # type: ignore[no-untyped-def]  # -> Assessment
    """The process-wide detector's assessment of `text`, made once per request: a second call
    with the same text in the same context (asyncio task or thread) gets the first one's result.
    Callers must not change the returned assessment."""
    last = _last_assessed.get()
    if last is not None and last[0] == text:
        return last[1]
    assessment = default_detector().assess(text)
    _last_assessed.set((text, assessment))
    return assessment


def forget_assessed() -> None:
    """Drop the remembered assessment (and the patient's words in it) from this context."""
    _last_assessed.set(None)
