"""Scoring the detector on a labelled set: per-category recall and false alarms.

A line is {"text": ..., "categories": [...], "min_severity": "none|low|moderate|high|critical"}.
- Recall, per category: the category was detected, and at or above the expected severity.
- A false alarm: an example expected below the threshold (none or low) that would take the
  safety path (severity at or above the threshold).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.safety.assessment import rank
from bot.safety.detector import Detector


@dataclass
class CategoryScore:
    n: int = 0
    detected: int = 0
    at_severity: int = 0
    misses: list[str] = field(default_factory=list)


@dataclass
class Report:
    categories: dict[str, CategoryScore]
    negatives: int
    false_alarms: list[str]
    noted: int
    wrong_category: list[str]

    def lines(self) -> list[str]:
        out = [f"{'category':<16}{'n':>4}{'detected':>10}{'recall (at expected severity)':>32}"]
        tot_n = tot_sev = 0
        for cat, s in sorted(self.categories.items()):
            out.append(
                f"{cat:<16}{s.n:>4}{s.detected:>10}{s.at_severity:>18} = {100 * s.at_severity / s.n:5.1f}%"
            )
            tot_n += s.n
            tot_sev += s.at_severity
        if tot_n:
            out.append(f"{'all risk':<16}{tot_n:>4}{'':>10}{tot_sev:>18} = {100 * tot_sev / tot_n:5.1f}%")
        rate = 100 * len(self.false_alarms) / self.negatives if self.negatives else 0.0
        out.append(
            f"below-threshold examples: {self.negatives}, false alarms: {len(self.false_alarms)} "
            f"({rate:.1f}%), noted as low: {self.noted}"
        )
        for text in self.false_alarms:
            out.append(f"  false alarm: {text[:90]!r}")
        for cat, s in sorted(self.categories.items()):
            for text in s.misses:
                out.append(f"  missed {cat}: {text[:90]!r}")
        for text in self.wrong_category:
            out.append(f"  extra category: {text[:110]}")
        return out


def evaluate(detector: Detector, path: Path, threshold: str = "moderate") -> Report:
    cats: dict[str, CategoryScore] = defaultdict(CategoryScore)
    negatives, noted = 0, 0
    false_alarms: list[str] = []
    wrong: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        ex = json.loads(line)
        a = detector.assess(ex["text"])
        expected = ex.get("min_severity", "none")
        if rank(expected) < rank(threshold):
            negatives += 1
            if rank(a.severity) >= rank(threshold):
                false_alarms.append(ex["text"])
            elif a.severity == "low":
                noted += 1
        if expected == "none":
            continue
        for cat in ex["categories"]:
            s = cats[cat]
            s.n += 1
            if cat in a.categories:
                s.detected += 1
                if rank(a.severity) >= rank(expected):
                    s.at_severity += 1
                    continue
            s.misses.append(ex["text"])
        extra = set(a.categories) - set(ex["categories"])
        if extra and rank(a.severity) >= rank(threshold):
            wrong.append(f"{sorted(extra)} in {ex['text'][:80]!r}")
    return Report(dict(cats), negatives, false_alarms, noted, wrong)


@dataclass
class Rates:
    """The issue's figures: urgent recall (expected >= high -> predicted >= high), flag recall
    (expected >= moderate -> predicted >= low), benign false alarms (expected none ->
    predicted >= moderate), and flag recall per category (predicted >= low with that category)."""

    n: int = 0
    urgent: list[int] = field(default_factory=lambda: [0, 0])  # [hit, total]
    flag: list[int] = field(default_factory=lambda: [0, 0])
    benign: list[int] = field(default_factory=lambda: [0, 0])  # [false alarms, total]
    per_category: dict[str, list[int]] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)  # texts; never printed for a blind round

    @staticmethod
    def _fmt(pair: list[int]) -> str:
        hit, total = pair
        return f"{hit}/{total} = {hit / total:.3f}" if total else "-"

    def lines(self) -> list[str]:
        cats = ", ".join(f"{c} {self._fmt(v)}" for c, v in sorted(self.per_category.items()))
        return [
            f"n={self.n}",
            f"urgent recall (expected >= high -> predicted >= high): {self._fmt(self.urgent)}",
            f"flag recall (expected >= moderate -> predicted >= low): {self._fmt(self.flag)}",
            f"benign false alarms (expected none -> predicted >= moderate): {self._fmt(self.benign)}",
            f"per category (flag recall, that category detected): {cats}",
        ]


def rates(detector, path: Path) -> Rates:  # type: ignore[no-untyped-def]
    out = Rates()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        ex = json.loads(line)
        a = detector.assess(ex["text"])
        expected = ex.get("min_severity", "none")
        out.n += 1
        if rank(expected) >= rank("high"):
            out.urgent[1] += 1
            out.urgent[0] += rank(a.severity) >= rank("high")
        if rank(expected) >= rank("moderate"):
            out.flag[1] += 1
            flagged = rank(a.severity) >= rank("low")
            out.flag[0] += flagged
            if not flagged or (rank(expected) >= rank("high") and rank(a.severity) < rank("high")):
                out.misses.append(f"{expected} -> {a.severity}: {ex['text']}")
            for cat in ex.get("categories") or []:
                pair = out.per_category.setdefault(cat, [0, 0])
                pair[1] += 1
                pair[0] += flagged and cat in a.categories
        if expected == "none":
            out.benign[1] += 1
            alarm = rank(a.severity) >= rank("moderate")
            out.benign[0] += alarm
            if alarm:
                out.misses.append(f"false alarm ({a.severity}): {ex['text']}")
    return out
