"""Loading and validating the risk lexicon: a YAML file clinics can read and extend.

Pattern syntax (one phrase per string, tokens separated by spaces):
  word          matches any inflection of the word ("die" matches died, dying, dies)
  =word         matches exactly this form only ("=took" matches took, not take)
  a|b|c         any one of the alternatives; use _ for a multi-word one: end|take_my_own
  word?         optional (also for a|b?)
  ~  or  ~N     up to 3 (or N) other words in between, never across a sentence or punctuation
  <num>         any number, in digits or words ("20", "twenty")
Spaces separate tokens, so "no one|nobody" means "no" then "one|nobody": write no_one|nobody.
A `benign` entry suppresses any rule whose words it overlaps, or with `only: [rule ids]` just
those rules (the other hits on the same words stay). Cues: negation, hypothetical, past,
third_person, and question (lowers substance hits to low when the question is the whole message).
See clinic/safety/README.md for the whole format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.safety.assessment import CATEGORIES, SEVERITIES
from bot.yamlfile import read_yaml

CUE_KINDS = ("negation", "hypothetical", "past", "third_person", "question")


class LexiconError(Exception):
    """The lexicon file is unreadable or invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: str
    kind: str
    patterns: tuple[str, ...]
    #: Where context may be looked for: "before" the match (default) or "around" it.
    description: str = ""
    #: A benign context that suppresses only these rules (empty: any rule whose words it covers).
    only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalator:
    """Raises co-occurring hits in the same sentence (e.g. ideation + means -> critical)."""

    id: str
    applies_to: tuple[str, ...]  # categories
    kinds: tuple[str, ...]  # rule kinds it may raise (not passive wishes or history)
    to_severity: str
    kind: str
    patterns: tuple[str, ...]
    scope: str = "sentence"  # sentence | adjacent (the same or a neighbouring sentence)


@dataclass
class Lexicon:
    version: int
    rules: list[Rule]
    benign: list[Rule]
    escalators: list[Escalator]
    cues: dict[str, list[str]]
    words: dict[str, str] = field(default_factory=dict)  # slang, compounds, typos
    emoji: dict[str, str] = field(default_factory=dict)
    lemmas: dict[str, str] = field(default_factory=dict)
    scope_breakers: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _req(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise LexiconError(f"{where} has no '{key}'.")
    return entry[key]


def _patterns(entry: dict[str, Any], where: str) -> tuple[str, ...]:
    pats = _req(entry, "patterns", where)
    if not isinstance(pats, list) or not pats or not all(isinstance(p, str) and p.strip() for p in pats):
        raise LexiconError(f"{where}: 'patterns' must be a non-empty list of phrases.")
    for p in pats:
        atoms = p.split()
        # A phrase that starts or ends with a gap matches far more than intended (and a YAML
        # comment, " #...", can silently cut a phrase down to one).
        if atoms[0].startswith("~") or atoms[-1].startswith("~"):
            raise LexiconError(f"{where}: the phrase {p!r} must not start or end with a ~ gap.")
        if all(a.startswith("~") or a.endswith("?") for a in atoms):
            raise LexiconError(f"{where}: the phrase {p!r} has no required word.")
    return tuple(p.strip() for p in pats)


def _parse_rules(items: Any, where: str, *, benign: bool) -> list[Rule]:
    if not isinstance(items, list):
        raise LexiconError(f"{where} must be a list.")
    rules: list[Rule] = []
    for i, entry in enumerate(items):
        label = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise LexiconError(f"{label} must be a mapping.")
        rid = str(_req(entry, "id", label))
        label = f"{where} rule {rid!r}"
        if benign:
            only = entry.get("only") or []
            if not isinstance(only, list) or not all(isinstance(r, str) for r in only):
                raise LexiconError(f"{label}: 'only' must be a list of rule ids.")
            rules.append(
                Rule(
                    rid,
                    "",
                    "none",
                    "benign",
                    _patterns(entry, label),
                    str(entry.get("description", "")),
                    tuple(only),
                )
            )
            continue
        category = _req(entry, "category", label)
        if category not in CATEGORIES:
            raise LexiconError(f"{label}: unknown category {category!r} (one of {', '.join(CATEGORIES)}).")
        severity = _req(entry, "severity", label)
        if severity not in SEVERITIES[1:]:
            raise LexiconError(
                f"{label}: severity must be low, moderate, high or critical, not {severity!r}."
            )
        rules.append(
            Rule(
                rid,
                category,
                severity,
                str(entry.get("kind", "statement")),
                _patterns(entry, label),
                str(entry.get("description", "")),
            )
        )
    return rules


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LexiconError(f"{where} must be a mapping of text to text.")
    return {str(k).lower(): str(v).lower() for k, v in value.items()}


def parse_lexicon(data: Any, source: str) -> Lexicon:
    if not isinstance(data, dict):
        raise LexiconError(f"{source} must be a YAML mapping.")
    rules = _parse_rules(data.get("rules", []), f"{source}: rules", benign=False)
    benign = _parse_rules(data.get("benign", []), f"{source}: benign", benign=True)
    escalators: list[Escalator] = []
    for i, entry in enumerate(data.get("escalators", []) or []):
        label = f"{source}: escalators[{i}]"
        to = _req(entry, "to_severity", label)
        if to not in SEVERITIES[1:]:
            raise LexiconError(f"{label}: to_severity {to!r} is not a severity.")
        applies = tuple(_req(entry, "applies_to", label))
        for cat in applies:
            if cat not in CATEGORIES:
                raise LexiconError(f"{label}: unknown category {cat!r}.")
        kinds = tuple(entry.get("kinds") or ("ideation", "behaviour"))
        scope = str(entry.get("scope", "sentence"))
        if scope not in ("sentence", "adjacent"):
            raise LexiconError(f"{label}: scope must be sentence or adjacent, not {scope!r}.")
        escalators.append(
            Escalator(
                str(_req(entry, "id", label)),
                applies,
                kinds,
                to,
                str(entry.get("kind", "means")),
                _patterns(entry, label),
                scope,
            )
        )
    normalise = data.get("normalise", {}) or {}
    cues_raw = data.get("cues", {}) or {}
    cues: dict[str, list[str]] = {}
    for kind in CUE_KINDS:
        vals = cues_raw.get(kind, []) or []
        if not isinstance(vals, list):
            raise LexiconError(f"{source}: cues.{kind} must be a list of phrases.")
        cues[kind] = [str(v) for v in vals]
    words: dict[str, str] = {}
    for key in ("slang", "compounds", "typos"):
        words.update(_str_map(normalise.get(key), f"{source}: normalise.{key}"))
    return Lexicon(
        version=int(data.get("version", 1)),
        rules=rules,
        benign=benign,
        escalators=escalators,
        cues=cues,
        words=words,
        emoji={str(k): str(v) for k, v in (_str_map(normalise.get("emoji"), f"{source}: emoji")).items()},
        lemmas=_str_map(normalise.get("lemmas"), f"{source}: normalise.lemmas"),
        scope_breakers=[str(w) for w in (cues_raw.get("scope_breakers") or [])],
        sources=[source],
    )


def merge(base: Lexicon, extra: Lexicon) -> Lexicon:
    """A clinic's extension file adds rules and words; it cannot remove the base floor."""
    ids = {r.id for r in base.rules}
    clash = [r.id for r in extra.rules if r.id in ids]
    if clash:
        raise LexiconError(f"{extra.sources[0]}: rule ids already defined: {', '.join(clash)}.")
    return Lexicon(
        version=base.version,
        rules=base.rules + extra.rules,
        benign=base.benign + extra.benign,
        escalators=base.escalators + extra.escalators,
        cues={k: base.cues.get(k, []) + extra.cues.get(k, []) for k in CUE_KINDS},
        words={**base.words, **extra.words},
        emoji={**base.emoji, **extra.emoji},
        lemmas={**base.lemmas, **extra.lemmas},
        scope_breakers=base.scope_breakers + extra.scope_breakers,
        sources=base.sources + extra.sources,
    )


def load_lexicon(paths: list[Path]) -> Lexicon:
    """Load the base lexicon and any clinic extensions, in order."""
    lexicon: Lexicon | None = None
    for path in paths:
        parsed = parse_lexicon(read_yaml(path, LexiconError), str(path))
        lexicon = parsed if lexicon is None else merge(lexicon, parsed)
    if lexicon is None or not lexicon.rules:
        raise LexiconError("No risk lexicon rules were loaded.")
    ids = {r.id for r in lexicon.rules}
    for b in lexicon.benign:
        unknown = [r for r in b.only if r not in ids]
        if unknown:
            raise LexiconError(f"benign rule {b.id!r}: 'only' names unknown rules: {', '.join(unknown)}.")
    return lexicon
