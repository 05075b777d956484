"""One detector for every path: the lexicon rules (the floor) plus the semantic layer.

The final severity is never below what the rules say; the semantic layer can only raise it
(clinical guide, section 5: recall first). Benign contexts are taught to the semantic layer
with labelled hard negatives (clinic/safety/examples/benign.yml), not special-cased here.
"""

from __future__ import annotations

import logging

from bot.safety.assessment import Assessment, RuleHit, rank
from bot.safety.detector import Detector
from bot.safety.normalize import normalize
from bot.safety.semantic import NEAR_IDENTICAL, SemanticModel

logger = logging.getLogger(__name__)

#: The most the semantic layer raises on its own. `critical` (a 5-minute alert) stays with the
#: rules (plan, means, intent, timing, farewell, attempt) and with a patient who does not confirm
#: being safe: on blind rounds the layer's own `critical` fired on ordinary messages too often,
#: while `high` already gives resources at once, "are you safe right now?" and same-day contact.
SEMANTIC_MAX = "high"


def combine(rules: Assessment, semantic: dict | None) -> Assessment:
    """The rules' assessment, raised (never lowered) by the semantic layer's result."""
    out = Assessment(
        severity=rules.severity,
        categories=list(rules.categories),
        rules=list(rules.rules),
        lowering=list(rules.lowering),
        suppressed=list(rules.suppressed),
        error=rules.error,
        semantic=semantic,
    )
    if semantic is None:
        return out
    sem_sev = semantic.get("severity", "none")
    close = (semantic.get("close_to") or [None])[0]
    if (
        close is not None
        and semantic.get("whole")
        and close.get("similarity", 0) >= NEAR_IDENTICAL
        and rank(close.get("severity", "none")) < rank(sem_sev)
    ):
        sem_sev = close.get("severity", "none")
        semantic = {**semantic, "held_by": close.get("id")}
        out.semantic = semantic
    if rank(sem_sev) > rank(SEMANTIC_MAX):
        sem_sev = SEMANTIC_MAX
    if rank(sem_sev) > rank(out.severity):
        # The semantic layer raised the severity: its categories say what it saw. When the
        # rules already stand at that level, their categories (with spans) stay the answer.
        out.severity = sem_sev
        out.categories = sorted(set(out.categories) | set(semantic.get("categories") or []))
    return out


class CombinedDetector:
    """Rules first, then the semantic layer; an error in either is `high`, never `none`."""

    def __init__(self, rules: Detector, model: SemanticModel | None) -> None:
        self.rules = rules
        self.model = model
        self.lexicon = rules.lexicon

    def prepare(self, text: str) -> str:
        """What the semantic layer embeds: the lexicon's slang and emoji rewritten, as in training."""
        return normalize(text, emoji=self.lexicon.emoji, words=self.lexicon.words).text

    def assess(self, text: str) -> Assessment:
        base = self.rules.assess(text)
        if self.model is None or not text or not text.strip():
            return combine(base, None)
        try:
            semantic = self.model.assess(text, self.prepare).to_dict()
        except Exception as exc:  # the safety floor must not fail open
            logger.exception("semantic risk layer failed; treating the message as high risk")
            failed = combine(base, None)
            if rank(failed.severity) < rank("high"):
                failed.severity = "high"
            failed.rules.append(RuleHit("semantic.error", "", "error", "high", "high", 0, 0, ""))
            failed.error = failed.error or type(exc).__name__
            return failed
        return combine(base, semantic)
