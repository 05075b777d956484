"""The risk detector: spaCy (blank English) + a clinic-editable lexicon, no Rasa import.

Recall comes first (clinical guide, section 5): every rule that matches counts, and context
can only take one level off a hit, never clear it, and never for plan, means, intent, timing
or farewell. False alarms are then removed only by explicit benign contexts (idioms and
integration imagery) that overlap the very words a rule matched.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import spacy
import spacy_lookups_data
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span

from bot.config import CLINIC_DIR
from bot.safety.assessment import (
    SEVERITIES,
    UNLOWERABLE_KINDS,
    Assessment,
    Lowering,
    RuleHit,
    rank,
)
from bot.safety.lexicon import CUE_KINDS, Lexicon, LexiconError, Rule, load_lexicon
from bot.safety.normalize import normalize

logger = logging.getLogger(__name__)

DEFAULT_LEXICON = CLINIC_DIR / "safety" / "lexicon.yml"


def lexicon_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """The base lexicon plus any clinic extensions (INTERLUDE_SAFETY_LEXICON_EXTRA, os.pathsep-separated)."""
    env = os.environ if environ is None else environ
    paths = [Path(env.get("INTERLUDE_SAFETY_LEXICON", "") or DEFAULT_LEXICON)]
    extra = env.get("INTERLUDE_SAFETY_LEXICON_EXTRA", "")
    paths += [Path(p) for p in extra.split(os.pathsep) if p.strip()]
    return paths


#: How far before a match context cues are looked for (tokens, within the sentence).
CONTEXT_WINDOW = 6
NEGATION_WINDOW = 3
#: A question cue opens its sentence ("is it ok to have a glass of wine after my troche?"), so
#: it is looked for further back than the other cues.
QUESTION_WINDOW = 10

#: Categories where a question about doing something ("can I have a drink after my troche?") is
#: not a report of doing it: when the question is the whole message, the hit is noted as `low`
#: for the therapist, not escalated. Never
#: suicide, self-harm or harm to others ("is it ok to want to die?" is risk), nor medical ("is it
#: normal to have chest pain after my dose?" reports the pain).
QUESTION_CATEGORIES = frozenset({"substance"})

#: Categories where one level is all that context may take off.
ONE_LEVEL_CATEGORIES = frozenset({"suicide", "self_harm", "harm_to_others", "safeguarding", "third_party"})

FIRST_PERSON = frozenset({"i", "me", "my", "myself", "mine", "im"})

# Closed-class words are missing from spaCy's lemma tables; without them the typo step
# would "correct" them towards lexicon words.
_CLOSED_CLASS = (
    "a an the and or but if so to of in on at by for with from into onto over under up down out off "
    "about above after again against all am are as be been being before below between both can "
    "could did do does doing during each few further had has have having he her here hers herself "
    "him himself his how i im is it its itself just me more most my myself no nor not now only "
    "other our ours ourselves own same she should some such than that their theirs them themselves "
    "then there these they this those through too until very was we were what when where which "
    "while who whom why will would you your yours yourself yourselves yeah yes okay ok lol idk "
    "tbh cuz coz gonna wanna gotta dont cant wont didnt isnt wasnt ive ill id youre theyre"
).split()


#: How costly a word is as a pattern's anchor (how often it occurs in ordinary entries): a
#: pattern is anchored on its required token with the lowest total. Only speed depends on it.
_MID_COMMON = frozenset(
    "day time today feel feeling session life go going take get want see tell try let right last keep "
    "one thing way work good love know think make come say like really people week year home need "
    "stop look long old part point use lot normal morning hour".split()
)


#: A pattern whose best anchor costs this much goes to the "common" tier.
RARE_COST = 10


def _anchor_cost(word: str) -> int:
    if word in _CLOSED_CLASS or word in STOP_WORDS:
        return 100
    return 10 if word in _MID_COMMON else 1


def _lookups_table(name: str) -> dict:
    path = Path(spacy_lookups_data.__file__).parent / "data" / f"en_{name}.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _english() -> tuple[dict[str, str], frozenset[str]]:
    """spaCy's English lemma lookup table, and every word form it or the index knows."""
    lemma = _lookups_table("lemma_lookup")
    index = _lookups_table("lemma_index")
    known: set[str] = set(lemma) | set(lemma.values()) | set(_CLOSED_CLASS)
    for words in index.values():
        known.update(words)
    return lemma, frozenset(known)


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance, giving up early past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


_Spec = tuple[str, frozenset[str]]  # ("NORM" | "LOWER" | "NUM", values)


def _required_specs(pattern: list[dict]) -> list[tuple[tuple[int, int], _Spec]]:
    """The tokens a match of `pattern` must contain, each with its cost as an anchor."""
    specs: list[tuple[tuple[int, int], _Spec]] = []
    for tok in pattern:
        if "OP" in tok:
            continue
        if tok.get("LIKE_NUM"):
            specs.append(((1000, 1), ("NUM", frozenset())))
        for attr in ("NORM", "LOWER"):
            if attr in tok:
                val = tok[attr]
                vals = frozenset(val["IN"]) if isinstance(val, dict) else frozenset([val])
                specs.append(((sum(_anchor_cost(v) for v in vals), len(vals)), (attr, vals)))
    return sorted(specs, key=lambda s: s[0])


class _Anchors:
    """Where the patterns of one Matcher can match. Each pattern is anchored on its least common
    required token and, when it has another, on its next least common one (its partner): a
    match holds both, at most len(pattern) tokens apart (the only operator used is "?"). So a
    match lies within `reach` tokens of an anchor token with a partner token near it."""

    def __init__(self) -> None:
        self.reach = 1
        #: anchor (attr, value) -> partners: None (a pattern with one required token: always)
        #: or the union of its patterns' partner specs.
        self.anchors: dict[tuple[str, str], dict[str, set[str]] | None] = {}

    def add(self, pattern: list[dict]) -> None:
        self.reach = max(self.reach, len(pattern))
        specs = _required_specs(pattern)
        if not specs:  # cannot happen for a validated lexicon; match everywhere to be safe
            specs = [((0, 0), ("NUM", frozenset()))]
        (_c, (attr, vals)), partner = specs[0], (specs[1][1] if len(specs) > 1 else None)
        for v in vals if attr != "NUM" else [""]:
            key = (attr, v)
            if key in self.anchors and self.anchors[key] is None:
                continue
            if partner is None:
                self.anchors[key] = None
                continue
            union = self.anchors.setdefault(key, {"NORM": set(), "LOWER": set(), "NUM": set()})
            assert union is not None
            union[partner[0]].update(partner[1] if partner[0] != "NUM" else {""})

    def windows(self, doc: Doc) -> list[tuple[int, int]]:
        """Token ranges holding every match, merged where they overlap."""
        n, reach = len(doc), self.reach
        norms = [t.norm_ for t in doc]
        lowers = [t.lower_ for t in doc]
        nums = [t.like_num for t in doc]
        out: list[list[int]] = []
        for i in range(n):
            lo, hi = max(0, i - reach + 1), min(n, i + reach)
            hit = False
            for key in (("NORM", norms[i]), ("LOWER", lowers[i]), ("NUM", "") if nums[i] else None):
                if key is None or key not in self.anchors:
                    continue
                part = self.anchors[key]
                if (
                    part is None
                    or (part["NORM"] and not part["NORM"].isdisjoint(norms[lo:hi]))
                    or (part["LOWER"] and not part["LOWER"].isdisjoint(lowers[lo:hi]))
                    or (part["NUM"] and any(nums[lo:hi]))
                ):
                    hit = True
                    break
            if hit:
                if out and lo <= out[-1][1]:
                    out[-1][1] = max(out[-1][1], hi)
                else:
                    out.append([lo, hi])
        return [(lo, hi) for lo, hi in out]


class _Group:
    """The patterns of one kind (rules, benign contexts, escalators, cues), matched without
    spaCy's own filtering; `greedy="LONGEST"` is applied here, per key, over all candidates.

    The Matcher's cost grows with text length times the number of patterns, and most of a long
    entry holds none of a pattern's words. Patterns with a rare required word ("overdose",
    "troche") are matched only around it (the "rare" matcher, hundreds of patterns); the few
    whose words are all common ("can't go on") are matched around their own anchors (the
    "common" matcher, a few dozen patterns). Both find every candidate that matching the whole
    text finds, so the filtered result is the same (tests/unit/test_detector_prefilter.py)."""

    def __init__(self, vocab) -> None:  # type: ignore[no-untyped-def]
        self.tiers = {name: (Matcher(vocab, validate=True), _Anchors()) for name in ("rare", "common")}
        self.greedy: set[str] = set()

    def add(self, key: str, patterns: list[list[dict]], greedy: bool) -> None:
        if greedy:
            self.greedy.add(key)
        by_tier: dict[str, list[list[dict]]] = {"rare": [], "common": []}
        for pattern in patterns:
            specs = _required_specs(pattern)
            name = "rare" if specs and specs[0][0][0] < RARE_COST else "common"
            self.tiers[name][1].add(pattern)
            by_tier[name].append(pattern)
        for name, pats in by_tier.items():
            if pats:
                self.tiers[name][0].add(key, pats)

    def find(self, doc: Doc, spans: list[tuple[int, int]] | None = None) -> list[tuple[str, int, int]]:
        """(key, start, end) of the matches in `doc`: inside each token range of `spans` (the
        whole text, or sentences for cues, which are not greedy), or by default inside the
        anchors' windows."""
        strings = doc.vocab.strings
        cands: list[tuple[str, int, int]] = []
        for matcher, anchors in self.tiers.values():
            if not len(matcher):
                continue
            for lo, hi in spans if spans is not None else anchors.windows(doc):
                part = doc if (lo, hi) == (0, len(doc)) else doc[lo:hi]
                cands += [(strings[m], s + lo, e + lo) for m, s, e in matcher(part)]
        return _longest(cands, self.greedy)


def _longest(cands: list[tuple[str, int, int]], greedy: set[str]) -> list[tuple[str, int, int]]:
    """spaCy's greedy="LONGEST" filter (spacy/matcher/matcher.pyx): per key, longest first,
    then earliest, keeping a match only if none of its tokens is taken."""
    out: list[tuple[str, int, int]] = []
    by_key: dict[str, list[tuple[int, int]]] = {}
    for key, s, e in cands:
        if key in greedy:
            by_key.setdefault(key, []).append((s, e))
        else:
            out.append((key, s, e))
    for key, pairs in by_key.items():
        taken: set[int] = set()
        for s, e in sorted(set(pairs), key=lambda x: (x[1] - x[0], -x[0]), reverse=True):
            if not taken.intersection(range(s, e)):
                out.append((key, s, e))
                taken.update(range(s, e))
    return out


class Detector:
    """Assesses one patient message (or a whole journal entry) for risk."""

    def __init__(self, lexicon: Lexicon, *, prefilter: bool = True) -> None:
        #: `prefilter=False` runs every pattern over the whole text: the reference the anchored
        #: matching is tested against (tests/unit/test_detector_prefilter.py).
        self.prefilter = prefilter
        self.lexicon = lexicon
        self._lemma, known = _english()
        self._rules: dict[str, Rule] = {r.id: r for r in lexicon.rules}
        self._escalators = {e.id: e for e in lexicon.escalators}
        self._benign: dict[str, Rule] = {r.id: r for r in lexicon.benign}
        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("sentencizer")
        self._lexicon_words: set[str] = set()
        self._known = known
        self._norm_cache: dict[str, str] = {}
        # One matcher per kind of pattern. Benign contexts, escalators and cues only change rule
        # hits, so they are matched only where a rule hit can use them (see `_assess`).
        self.groups = {g: _Group(self.nlp.vocab) for g in ("rule", "benign", "esc", "cue")}
        self._key_order: dict[str, int] = {}
        try:
            self._compile()
        except (ValueError, KeyError) as exc:
            raise LexiconError(f"A lexicon pattern could not be compiled: {exc}") from None
        self._breakers = {self.norm_word(w) for w in lexicon.scope_breakers}

    @classmethod
    def from_files(cls, paths: Iterable[Path] | None = None) -> Detector:
        return cls(load_lexicon(list(paths) if paths else [DEFAULT_LEXICON]))

    # ------------------------------------------------------------------ normalising words
    def norm_word(self, word: str) -> str:
        """Map a token to the form patterns are matched on: typo-fixed, then lemmatised."""
        cached = self._norm_cache.get(word)
        if cached is not None:
            return cached
        w = word.lower()
        if w in self.lexicon.words and " " not in self.lexicon.words[w]:
            w = self.lexicon.words[w]
        if (
            len(w) >= 4
            and w.isalpha()
            and w not in self._known
            and w not in self._lexicon_words
            and self._lexicon_words
        ):
            w = self._fuzzy(w) or w
        out = self.lexicon.lemmas.get(w) or self._lemma.get(w, w)
        if len(self._norm_cache) < 50_000:
            self._norm_cache[word] = out
        return out

    def _fuzzy(self, word: str) -> str | None:
        limit = 1 if len(word) < 8 else 2
        best: tuple[int, str] | None = None
        for cand in self._lexicon_words:
            if cand[0] != word[0] and len(word) < 8:
                continue
            d = _edit_distance(word, cand, limit)
            if d <= limit and (best is None or (d, cand) < best):
                best = (d, cand)
        return best[1] if best else None

    def _phrase_norms(self, phrase: str) -> list[str]:
        norm = normalize(phrase, emoji={}, words=self.lexicon.words)
        doc = self.nlp.make_doc(norm.text)
        out = []
        for tok in doc:
            if tok.is_space:
                continue
            raw = (tok.norm_ or tok.lower_).lower()
            if raw.isalpha() and len(raw) >= 3:
                self._lexicon_words.add(raw)
            out.append(raw)
        return out

    # ------------------------------------------------------------------ compiling
    def _compile_pattern(self, pattern: str) -> list[list[dict]]:
        seqs: list[list[dict]] = [[]]
        atoms = pattern.split()
        # First pass: collect words so the fuzzy vocabulary exists before norms are taken.
        parsed: list[tuple[str, bool, list[list[str]] | int]] = []
        for atom in atoms:
            if atom.startswith("~"):
                parsed.append(("wild", False, int(atom[1:] or 3)))
                continue
            if atom in ("<num>", "<num>?"):
                parsed.append(("num", atom.endswith("?"), 0))
                continue
            optional = atom.endswith("?") and len(atom) > 1
            if optional:
                atom = atom[:-1]
            if atom.startswith("="):  # exact forms: "=took|=had" (a tense, not every inflection)
                forms = sorted({a.lstrip("=").lower() for a in atom.split("|")})
                parsed.append(("exact", optional, [[f] for f in forms]))
                continue
            alts = [self._phrase_norms(a.replace("_", " ")) for a in atom.split("|")]
            if any(not a for a in alts):
                raise ValueError(f"empty alternative in {pattern!r}")
            parsed.append(("alt", optional, alts))
        for kind, optional, payload in parsed:
            if kind == "num":  # any number, written as digits or words ("20", "twenty")
                tok = {"LIKE_NUM": True, **({"OP": "?"} if optional else {})}
                seqs = [[*s, dict(tok)] for s in seqs]
                continue
            if kind == "exact":
                tok = {"LOWER": {"IN": [f[0] for f in payload]}, **({"OP": "?"} if optional else {})}  # type: ignore[index]
                seqs = [[*s, dict(tok)] for s in seqs]
                continue
            if kind == "wild":
                tok = {"IS_PUNCT": False, "IS_SENT_START": False, "OP": "?"}
                seqs = [s + [dict(tok) for _ in range(payload)] for s in seqs]  # type: ignore[arg-type]
                continue
            alts = [[self._lemma_of(w) for w in alt] for alt in payload]  # type: ignore[union-attr]
            if all(len(a) == 1 for a in alts):
                tok: dict = {"NORM": {"IN": sorted({a[0] for a in alts})}}
                if optional:
                    tok["OP"] = "?"
                seqs = [[*s, tok] for s in seqs]
            else:
                new: list[list[dict]] = []
                for s in seqs:
                    for alt in alts:
                        new.append(s + [{"NORM": w} for w in alt])
                    if optional:
                        new.append(list(s))
                seqs = new
        return seqs

    def _lemma_of(self, raw: str) -> str:
        return self.lexicon.lemmas.get(raw) or self._lemma.get(raw, raw)

    def _compile(self) -> None:
        keyed = [("rule", r.id, r.patterns, True) for r in self.lexicon.rules]
        keyed += [("benign", "benign:" + r.id, r.patterns, True) for r in self.lexicon.benign]
        keyed += [("esc", "esc:" + e.id, e.patterns, True) for e in self.lexicon.escalators]
        keyed += [
            ("cue", "cue:" + kind, tuple(self.lexicon.cues[kind]), False)
            for kind in CUE_KINDS
            if self.lexicon.cues.get(kind)
        ]
        for group, key, patterns, greedy in keyed:
            pats = [p for pattern in patterns for p in self._compile_pattern(pattern)]
            self.groups[group].add(key, pats, greedy)
        self._key_order = {key: i for i, (_g, key, _p, _gr) in enumerate(keyed)}

    # ------------------------------------------------------------------ assessing
    def assess(self, text: str) -> Assessment:
        """Assess `text`; an internal error is reported as `high`, never as `none`."""
        try:
            return self._assess(text)
        except Exception as exc:  # the safety floor must not fail open
            logger.exception("risk detector failed; treating the message as high risk")
            return Assessment(
                severity="high",
                categories=[],
                rules=[RuleHit("detector.error", "", "error", "high", "high", 0, 0, "")],
                error=type(exc).__name__,
            )

    def _doc(self, text: str) -> tuple[Doc, object]:
        norm = normalize(text, emoji=self.lexicon.emoji, words=self.lexicon.words)
        doc = self.nlp(norm.text)
        for tok in doc:
            tok.norm_ = self.norm_word(tok.norm_ or tok.lower_)
        return doc, norm

    def _assess(self, text: str) -> Assessment:
        if not text or not text.strip():
            return Assessment()
        doc, norm = self._doc(text)
        hits: list[tuple[str, int, int]] = []
        benign: list[tuple[str, int, int]] = []
        escal: list[tuple[str, int, int]] = []
        cues: dict[str, list[tuple[int, int]]] = {k: [] for k in CUE_KINDS}
        g = self.groups
        whole = [(0, len(doc))]
        matches = g["rule"].find(doc, None if self.prefilter else whole)
        if not matches:
            return Assessment()  # no rule matched: benign contexts, escalators and cues change nothing
        matches += g["benign"].find(doc, None if self.prefilter else whole)
        matches += g["esc"].find(doc, None if self.prefilter else whole)
        # Cues are only read inside the sentence of a rule hit (`_lowering`), and are not greedy:
        # matching those sentences finds every cue that is read.
        cue_at = whole
        if self.prefilter:
            cue_at = sorted(
                {(doc[s].sent.start, doc[s].sent.end) for key, s, _e in matches if ":" not in key}
            )
        matches += g["cue"].find(doc, cue_at)
        # One order whatever the path (whole text or windows): position, then lexicon order.
        matches.sort(key=lambda m: (m[1], m[2], self._key_order[m[0]]))
        for key, start, end in matches:
            if key.startswith("benign:"):
                benign.append((key[7:], start, end))
            elif key.startswith("esc:"):
                escal.append((key[4:], start, end))
            elif key.startswith("cue:"):
                cues[key[4:]].append((start, end))
            else:
                hits.append((key, start, end))

        result = Assessment()
        kept: list[tuple[Rule, int, int, str, Lowering | None]] = []
        for rid, start, end in sorted(hits, key=lambda h: (h[1], -h[2])):
            rule = self._rules[rid]
            over = (b for b in benign if b[1] < end and start < b[2] and self._blocks(b[0], rid))
            blocker = next(over, None)
            if blocker is not None:
                result.suppressed.append(
                    {"rule": rid, "by": blocker[0], "span": self._span(doc, norm, text, start, end)[2]}
                )
                continue
            lowering = self._lowering(doc, rule, start, end, cues)
            severity = rule.severity
            category = rule.category
            if lowering is not None:
                severity = lowering.to_severity
                if lowering.reason == "third_person":
                    category = "third_party"
            kept.append((rule, start, end, severity, lowering))
            o_start, o_end, span = self._span(doc, norm, text, start, end)
            result.rules.append(
                RuleHit(rid, category, rule.kind, severity, rule.severity, o_start, o_end, span)
            )
            if lowering is not None:
                result.lowering.append(lowering)

        # History statements ("used to cut", "tried to kill myself as a teenager") are their own
        # low category of risk (guide section 4): they replace the acute hits inside them.
        history = [(r, st, en) for r, st, en, _sev, _low in kept if r.kind == "history"]
        if history:
            absorbed = [
                i
                for i, (r, st, en, _sev, _low) in enumerate(kept)
                if r.kind != "history"
                and r.kind not in UNLOWERABLE_KINDS
                and any(h.category == r.category and hs <= st and en <= he for h, hs, he in history)
            ]
            for i in sorted(absorbed, reverse=True):
                rule = kept[i][0]
                result.suppressed.append({"rule": rule.id, "by": "history", "span": result.rules[i].span})
                del kept[i]
                del result.rules[i]
            result.lowering = [low for low in result.lowering if low.rule in {r.rule for r in result.rules}]

        # Escalators: ideation next to means or timing is a plan, whatever the wording.
        raised: set[tuple[str, str]] = set()
        sentence_of = self._sentence_index(doc) if escal and kept else []
        for eid, e_start, e_end in escal:
            esc = self._escalators[eid]
            for rule, start, _end, severity, lowering in kept:
                if (
                    rule.category not in esc.applies_to
                    or rule.kind not in esc.kinds
                    or lowering is not None
                    or (eid, rule.id) in raised
                    or abs(sentence_of[start] - sentence_of[e_start]) > (1 if esc.scope == "adjacent" else 0)
                ):
                    continue
                if rank(esc.to_severity) <= rank(severity):
                    continue
                o_start, o_end, span = self._span(doc, norm, text, e_start, e_end)
                result.rules.append(
                    RuleHit(
                        f"{eid}+{rule.id}",
                        rule.category,
                        esc.kind,
                        esc.to_severity,
                        severity,
                        o_start,
                        o_end,
                        span,
                    )
                )
                raised.add((eid, rule.id))

        if result.rules:
            result.severity = max((h.severity for h in result.rules), key=rank)
            result.categories = sorted({h.category for h in result.rules if h.category})
        return result

    @staticmethod
    def _only_sentence(doc: Doc, sent: Span) -> bool:
        """The question is all the message says: anything else may report doing it ("is it ok
        to take my xanax with the troche? ive been doing it anyway" stays high)."""
        return not any(t.is_alpha for t in doc[: sent.start]) and not any(t.is_alpha for t in doc[sent.end :])

    def _blocks(self, benign_id: str, rule_id: str) -> bool:
        """A benign context blocks every rule it overlaps, or only those it names (`only`)."""
        only = self._benign[benign_id].only
        return not only or rule_id in only

    @staticmethod
    def _sentence_index(doc: Doc) -> list[int]:
        """For each token, the number of its sentence (computed once per document)."""
        index = [0] * len(doc)
        for i, sent in enumerate(doc.sents):
            for t in range(sent.start, sent.end):
                index[t] = i
        return index

    @staticmethod
    def _span(doc: Doc, norm, text: str, start: int, end: int) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
        span: Span = doc[start:end]
        o_start, o_end = norm.span(span.start_char, span.end_char)
        return o_start, o_end, text[o_start:o_end]

    def _lowering(
        self, doc: Doc, rule: Rule, start: int, end: int, cues: dict[str, list[tuple[int, int]]]
    ) -> Lowering | None:
        if rule.kind in UNLOWERABLE_KINDS:
            return None
        sent = doc[start].sent

        def window(size: int) -> int:
            """The window before the match: same sentence, after the last scope breaker ("but")."""
            lo = max(sent.start, start - size)
            for i in range(start - 1, lo - 1, -1):
                if doc[i].norm_ in self._breakers:
                    return i + 1
            return lo

        w_start = window(CONTEXT_WINDOW)
        after_end = min(sent.end, end + CONTEXT_WINDOW)
        match_first_person = any(t.norm_ in FIRST_PERSON for t in doc[start:end])

        def cue_in(kind: str, lo: int, hi: int) -> tuple[int, int] | None:
            for c_start, c_end in cues.get(kind, []):
                if c_start >= lo and c_end <= hi and not (c_start < end and start < c_end):
                    return c_start, c_end
            return None

        # Negation must sit close to the words it negates: "No, I want to die" is not negated.
        n_start = start
        while n_start > max(w_start, start - NEGATION_WINDOW) and not doc[n_start - 1].is_punct:
            n_start -= 1

        found: tuple[str, tuple[int, int]] | None = None
        if (
            rule.category in QUESTION_CATEGORIES
            and (q := cue_in("question", window(QUESTION_WINDOW), start))
            and self._only_sentence(doc, sent)
        ):
            return Lowering(rule.id, "question", doc[q[0] : q[1]].text, rule.severity, "low")
        third = cue_in("third_person", w_start, start)
        if (
            third
            and not match_first_person
            and not any(t.norm_ in FIRST_PERSON for t in doc[third[1] : start])
        ):
            found = ("third_person", third)
        if found is None and (c := cue_in("negation", n_start, start)):
            found = ("negation", c)
        if found is None and (c := cue_in("hypothetical", w_start, start)):
            found = ("hypothetical", c)
        if found is None:
            c = cue_in("past", w_start, start) or cue_in("past", end, after_end)
            if c:
                found = ("past", c)
        if found is None:
            return None
        reason, (c_start, c_end) = found
        base = rank(rule.severity)
        if reason == "negation" and rule.category not in ONE_LEVEL_CATEGORIES:
            to = rank("low")  # "no chest pain": noted for the therapist, not escalated
        else:
            to = base - 1
        to = max(rank("low"), min(base, to))  # never below low: a flag is never cleared
        return Lowering(rule.id, reason, doc[c_start:c_end].text, rule.severity, SEVERITIES[to])
