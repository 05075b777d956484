"""One detector per process, built from the configured lexicon files."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from bot.safety.detector import DEFAULT_LEXICON, Detector


def lexicon_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """The base lexicon plus any clinic extensions (INTERLUDE_SAFETY_LEXICON_EXTRA, os.pathsep-separated)."""
    env = os.environ if environ is None else environ
    paths = [Path(env.get("INTERLUDE_SAFETY_LEXICON", "") or DEFAULT_LEXICON)]
    extra = env.get("INTERLUDE_SAFETY_LEXICON_EXTRA", "")
    paths += [Path(p) for p in extra.split(os.pathsep) if p.strip()]
    return paths


@lru_cache(maxsize=1)
def default_detector() -> Detector:
    """The process-wide detector; raises LexiconError at first use if the lexicon is bad."""
    return Detector.from_files(lexicon_paths())
