"""What the risk detector returns: severity, categories, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("none", "low", "moderate", "high", "critical")

CATEGORIES = (
    "suicide",
    "self_harm",
    "harm_to_others",
    "safeguarding",
    "medical",
    "psychiatric",
    "substance",
    "third_party",
)

#: Rule kinds that no context may lower (clinical guide, section 5).
UNLOWERABLE_KINDS = frozenset({"plan", "means", "intent", "timing", "farewell", "attempt", "emergency"})


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def at_least(severity: str, threshold: str) -> bool:
    return rank(severity) >= rank(threshold)


@dataclass(frozen=True)
class Lowering:
    """One level taken off a rule hit, and the context that justified it."""

    rule: str
    reason: str  # negation | hypothetical | past | third_person | question
    cue: str
    from_severity: str
    to_severity: str


@dataclass(frozen=True)
class RuleHit:
    rule: str
    category: str
    kind: str
    severity: str  # after any lowering or escalation
    base_severity: str
    start: int  # character offsets into the original text
    end: int
    span: str


@dataclass
class Assessment:
    severity: str = "none"
    categories: list[str] = field(default_factory=list)
    rules: list[RuleHit] = field(default_factory=list)
    lowering: list[Lowering] = field(default_factory=list)
    suppressed: list[dict] = field(default_factory=list)
    error: str | None = None
    #: The semantic layer's view (severity, scores, the closest labelled examples), if it ran.
    semantic: dict | None = None

    @property
    def flagged(self) -> bool:
        return self.severity != "none"

    def to_dict(self, *, include_spans: bool = True) -> dict:
        """JSON-ready form. Without spans, no patient words are included (safe to log)."""
        rules = []
        for hit in self.rules:
            item = asdict(hit)
            if not include_spans:
                item.pop("span")
            rules.append(item)
        out = {
            "severity": self.severity,
            "categories": list(self.categories),
            "rules": rules,
            "lowering": [asdict(low) for low in self.lowering],
        }
        if include_spans:
            out["suppressed"] = list(self.suppressed)
        else:
            out["suppressed"] = [{"rule": s["rule"], "by": s["by"]} for s in self.suppressed]
        if self.semantic is not None:
            sem = dict(self.semantic)
            if not include_spans:
                # The closest examples by id only: their words could echo the patient's.
                sem["close_to"] = [
                    {k: v for k, v in c.items() if k != "text"} for c in sem.get("close_to", [])
                ]
            out["semantic"] = sem
        if self.error:
            out["error"] = self.error
        return out
