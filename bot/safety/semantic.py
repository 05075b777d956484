"""The semantic layer of the risk detector: sentence embeddings and a small classifier.

Rules catch the phrasings someone thought of; this layer generalises by meaning. Each unit of
an entry (the whole, each sentence, windows of a long sentence) is embedded with WordLlama
(256 dimensions, weights shipped inside the `wordllama` wheel and loaded offline), and scored
by logistic regressions trained on the labelled examples in clinic/safety/examples/:
- one per severity step ("at least low", "at least moderate", ...): an ordinal severity;
- one per category.
Operating points are chosen recall-first (clinical guide, section 5) on out-of-fold scores, so
each threshold is set on examples the classifier did not see. The nearest labelled examples
are kept as the explanation a clinician reads ("close to: ...").

No Rasa import; scikit-learn is needed only to train, numpy to score.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from bot import model_cache
from bot.safety.assessment import CATEGORIES, SEVERITIES, rank
from bot.safety.examples import Example, example_paths, load_examples
from bot.safety.sentences import assessment_units

logger = logging.getLogger(__name__)

#: Bump when training or features change in a way the file hash would not show.
MODEL_FORMAT = 4
MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "safety"
LEVELS = SEVERITIES[1:]  # low, moderate, high, critical
#: Recall each severity step must reach, rules and semantic layer together, on out-of-fold
#: scores (recall first). "low" is measured on examples expected at moderate or above (the
#: issue's flag recall); the others on examples expected at that level or above.
TARGET_RECALL = {"low": 0.97, "moderate": 0.92, "high": 0.95, "critical": 0.85}
#: Weight of the embedding next to the character and word n-grams (which carry typos and slang).
EMBED_WEIGHT = 0.5
CATEGORY_RECALL = 0.90
NEAREST = 3
#: The layer on its own says `moderate` only when P(at least moderate) reaches this; a unit that
#: passes the step's operating point with less is noted as `low` (seen by the therapist, no
#: alert; flag recall counts `low`). Its `high` needs P(at least high) to reach the model's
#: `high_confident`, chosen at training (see `train`). On blind round 4 most false alarms were
#: integration stories and logistics questions scored just past the operating points.
MODERATE_CONFIDENT = 0.80
#: A labelled example this close (cosine of the embeddings) to a message, or to one unit of a
#: longer one, is taken at its word: the classifier does not raise that unit above it. Short
#: replies ("I don't know", "nearly every day", "bye") carry too little signal for the
#: classifier; their labelled twins decide (combined.py for a whole message, `assess` for units).
NEAR_IDENTICAL = 0.92
#: A sentence or window of a longer message (not the message as a whole) says `moderate` or
#: `high` on its own only this sure. An entry of ten sentences has ten chances of a chance false
#: alarm: on conversation rounds 8-9, 9 of 12 long ordinary journal entries took the crisis path
#: at the whole-message operating points. With this, every safety blind round (1-9) kept its
#: recall and lost about half its false alarms (README of tests/safety).
UNIT_CONFIDENT = 0.90

_embedder_lock = threading.Lock()
_embedder = None


def embedder():  # type: ignore[no-untyped-def]
    """WordLlama, loaded once per process from the installed wheel, never from the network."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            import wordllama
            from wordllama import WordLlama

            # Its default lookup looks in a folder the wheel does not have, then tries to download.
            _embedder = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
        return _embedder


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 256), dtype=np.float32)
    # Embedded shortest first: WordLlama pads each batch to its longest text, and a long entry's
    # whole text padded every sentence beside it to a thousand tokens. Padding is masked out, so
    # each row is the same as when embedded alone.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vecs = np.empty((len(texts), 256), dtype=np.float32)
    vecs[order] = np.asarray(embedder().embed([texts[i] for i in order]), dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-8)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def unit_ranks(level_p: np.ndarray, level_t: np.ndarray, high_confident: float = 0.0) -> np.ndarray:
    """Each unit's severity rank: the highest step whose operating point it passes (a unit
    sure of `high` but unsure of `moderate` is not dropped to `low`, as a strict ordinal chain
    did on round 4's "my sister ... taken an overdose"), then held below `moderate`/`high`
    unless confident (`high_confident`, MODERATE_CONFIDENT)."""
    passed = level_p >= level_t  # (units, 4)
    steps = np.arange(1, level_p.shape[1] + 1)
    ranks = np.max(np.where(passed, steps, 0), axis=1) if len(level_p) else np.zeros(0, dtype=int)
    ranks = np.where((ranks >= 3) & (level_p[:, 2] < high_confident), 2, ranks)
    ranks = np.where((ranks == 2) & (level_p[:, 1] < MODERATE_CONFIDENT), 1, ranks)
    return ranks.astype(int)


def _parts_need_confidence(
    unit_rank: np.ndarray, level_p: np.ndarray, units: list[tuple[int, int]]
) -> np.ndarray:
    """Units other than the whole message keep `high` and `moderate` only when confident
    (UNIT_CONFIDENT); otherwise they are held one step down, and `moderate` to `low` (noted
    for the therapist, no alert). The whole message (units[0]) keeps the operating points."""
    if len(units) < 2:
        return unit_rank
    held = unit_rank.copy()
    for i in range(1, len(units)):
        if held[i] >= 3 and level_p[i, 2] < UNIT_CONFIDENT:
            held[i] = 2
        if held[i] == 2 and level_p[i, 1] < UNIT_CONFIDENT:
            held[i] = 1
    return held


@dataclass
class SemanticResult:
    severity: str = "none"
    categories: list[str] = field(default_factory=list)
    #: P(at least each severity) and P(each category), for the unit that decided the severity.
    severity_scores: dict[str, float] = field(default_factory=dict)
    category_scores: dict[str, float] = field(default_factory=dict)
    start: int = 0  # the deciding unit, as offsets into the text
    end: int = 0
    whole: bool = False  # the message is one unit (a single sentence, not too long)
    close_to: list[dict] = field(default_factory=list)  # {id, text, severity, categories, similarity}

    def to_dict(self, *, include_text: bool = True) -> dict:
        return {
            "severity": self.severity,
            "categories": list(self.categories),
            "severity_scores": dict(self.severity_scores),
            "category_scores": dict(self.category_scores),
            "start": self.start,
            "end": self.end,
            "whole": self.whole,
            "close_to": [
                c if include_text else {k: v for k, v in c.items() if k != "text"} for c in self.close_to
            ],
        }


@dataclass
class SemanticModel:
    """Weights and operating points; scoring needs numpy only."""

    fingerprint: str
    vectorizers: list  # fitted TfidfVectorizers (characters, words), applied before the embedding
    level_w: np.ndarray  # (dims, 4)
    level_b: np.ndarray  # (4,)
    level_t: np.ndarray  # (4,) thresholds on P(at least level)
    cat_names: list[str]
    cat_w: np.ndarray  # (dims, n_categories)
    cat_b: np.ndarray
    cat_t: np.ndarray
    ex_vectors: np.ndarray  # (n_examples, dims), for the explanation
    ex_meta: list[tuple[str, str, str, tuple[str, ...]]]  # id, text, severity, categories
    stats: dict = field(default_factory=dict)
    high_confident: float = 0.0  # P(at least high) the layer needs to say `high` on its own

    def features(self, texts: list[str], vectors: np.ndarray):  # type: ignore[no-untyped-def]
        return _features(self.vectorizers, texts, vectors)

    def score_units(self, feats) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
        level = np.asarray(feats @ self.level_w) + self.level_b
        cat = np.asarray(feats @ self.cat_w) + self.cat_b
        return _sigmoid(level), _sigmoid(cat)

    def _fast(self) -> tuple[list, np.ndarray, np.ndarray]:
        """Per process: each vectorizer's analyzer, vocabulary and idf with its weight rows, so
        scoring a unit is a few dictionary look-ups instead of building sparse matrices."""
        cached = self.__dict__.get("_fast_cache")
        if cached is None:
            weights = np.hstack([self.level_w, self.cat_w]).astype(np.float64)
            parts, offset = [], 0
            for v in self.vectorizers:
                n = len(v.vocabulary_)
                parts.append((v.build_analyzer(), v.vocabulary_, v.idf_, weights[offset : offset + n]))
                offset += n
            cached = (parts, weights[offset:] * EMBED_WEIGHT, np.concatenate([self.level_b, self.cat_b]))
            self.__dict__["_fast_cache"] = cached
        return cached

    def fast_scores(self, texts: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same probabilities as score_units(features(...)), computed directly: TF-IDF with
        sublinear tf and l2 norm per vectorizer, then the linear models."""
        parts, emb_w, bias = self._fast()
        logits = vectors.astype(np.float64) @ emb_w + bias
        for i, text in enumerate(texts):
            for analyze, vocab, idf, w in parts:
                counts: dict[int, int] = {}
                for gram in analyze(text):
                    j = vocab.get(gram)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if not counts:
                    continue
                idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
                vals = (
                    1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
                ) * idf[idx]
                vals /= np.sqrt(vals @ vals)
                logits[i] += vals @ w[idx]
        n = self.level_w.shape[1]
        return _sigmoid(logits[:, :n]), _sigmoid(logits[:, n:])

    def _held_by_twins(self, unit_rank: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Each flagged unit of a longer message held at its near-identical labelled example:
        "bye" closing "thanks for checking in, i'm ok now. bye" is the labelled "bye" (none),
        not a farewell (conversation round 6). A single unit is left to combined.py."""
        flagged = np.flatnonzero(unit_rank > 0)
        if len(unit_rank) < 2 or len(flagged) == 0 or len(self.ex_vectors) == 0:
            return unit_rank
        sims = vectors[flagged] @ self.ex_vectors.T
        nearest = sims.argmax(axis=1)
        held = unit_rank.copy()
        for row, unit in enumerate(flagged):
            k = int(nearest[row])
            if sims[row, k] >= NEAR_IDENTICAL:
                held[unit] = min(int(held[unit]), SEVERITIES.index(self.ex_meta[k][2]))
        return held

    def assess(self, text: str, prepare: Callable[[str], str] | None = None) -> SemanticResult:
        """Assess the whole text and each of its units; the most severe unit decides.

        `prepare` rewrites each unit before embedding (the lexicon's slang and emoji, as in
        training); offsets always point into the original text."""
        units = assessment_units(text)
        pieces = [text[a:b] for a, b in units]
        pieces = [prepare(p) for p in pieces] if prepare else pieces
        vectors = embed(pieces)
        level_p, cat_p = self.fast_scores(pieces, vectors)
        unit_rank = self._held_by_twins(unit_ranks(level_p, self.level_t, self.high_confident), vectors)
        unit_rank = _parts_need_confidence(unit_rank, level_p, units)
        # The deciding unit: highest severity, then highest margin over its threshold.
        margin = np.where(
            unit_rank > 0, level_p[np.arange(len(units)), np.maximum(unit_rank - 1, 0)], level_p[:, 0]
        )
        best = int(np.lexsort((-margin, -unit_rank))[0])
        result = SemanticResult(
            severity=SEVERITIES[int(unit_rank[best])],
            severity_scores={lvl: round(float(level_p[best, j]), 3) for j, lvl in enumerate(LEVELS)},
            category_scores={c: round(float(cat_p[best, j]), 3) for j, c in enumerate(self.cat_names)},
            start=units[best][0],
            end=units[best][1],
            whole=len(units) == 1,
        )
        if result.severity != "none":
            flagged = unit_rank > 0
            cats = {
                self.cat_names[j]
                for i in np.flatnonzero(flagged)
                for j in np.flatnonzero(cat_p[i] >= self.cat_t)
            }
            if not cats:
                cats = {self.cat_names[int(np.argmax(cat_p[best]))]}
            result.categories = sorted(cats, key=CATEGORIES.index)
        sims = self.ex_vectors @ vectors[best]
        # The few nearest without sorting every example.
        top = np.argpartition(-sims, NEAREST)[:NEAREST] if len(sims) > NEAREST else np.arange(len(sims))
        for k in top[np.argsort(-sims[top])]:
            ex_id, ex_text, ex_sev, ex_cats = self.ex_meta[int(k)]
            result.close_to.append(
                {
                    "id": ex_id,
                    "text": ex_text,
                    "severity": ex_sev,
                    "categories": list(ex_cats),
                    "similarity": round(float(sims[int(k)]), 3),
                }
            )
        return result


# ---------------------------------------------------------------------------- training
def _code_version() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(f"format={MODEL_FORMAT}".encode())
    for name in ("semantic.py", "sentences.py", "examples.py", "normalize.py"):
        h.update((here / name).read_bytes())
    for dist in ("wordllama", "scikit-learn", "numpy"):
        h.update(f"{dist}={metadata.version(dist)}".encode())
    return h.hexdigest()


def fingerprint(paths: list[Path] | None = None, lexicon_paths: list[Path] | None = None) -> str:
    """Content hash of the examples, the lexicon's normalisation (it rewrites what is embedded)
    and the code version: the model file's name."""
    from bot.safety.detector import lexicon_paths as configured_lexicon

    h = hashlib.sha256(_code_version().encode())
    for path in [
        *(paths if paths is not None else example_paths()),
        *(lexicon_paths or configured_lexicon()),
    ]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _features(vectorizers: list, texts: list[str], vectors: np.ndarray):  # type: ignore[no-untyped-def]
    from scipy.sparse import csr_matrix, hstack

    parts = [v.transform(texts) for v in vectorizers]
    return hstack([*parts, csr_matrix(vectors * EMBED_WEIGHT)]).tocsr()


def _vectorizers(texts: list[str]) -> list:
    from sklearn.feature_extraction.text import TfidfVectorizer

    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|[^\w\s]")  # noqa: S106
    return [chars.fit(texts), words.fit(texts)]


def _threshold_for_recall(
    scores: np.ndarray, positive: np.ndarray, recall: float, caught: np.ndarray | None = None
) -> float:
    """The highest threshold at which the positives reach `recall`, counting those the rules
    already catch (`caught`) as found: the semantic layer only has to find the rest."""
    caught = np.zeros_like(positive) if caught is None else caught
    total = int(positive.sum())
    if total == 0:
        return 1.0
    need = int(np.ceil(recall * total)) - int((positive & caught).sum())
    rest = np.sort(scores[positive & ~caught])
    if need <= 0 or len(rest) == 0:
        # The rules alone reach the target; keep the layer for clear cases only.
        return 0.9
    t = rest[max(len(rest) - need, 0)]
    return float(max(min(t, 0.99), 0.01))


def _fit(x, y: np.ndarray, c: float):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return None
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    clf.fit(x, y)
    return clf


def _oof_all(
    texts: list[str], vectors: np.ndarray, targets: list[np.ndarray], folds: int = 5
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Out-of-fold probabilities for each target: each example scored by models (and n-gram
    vocabularies) that did not see it, as at run time: the highest score over its units (the
    whole, each sentence, windows), so operating points account for long entries too. Also
    each unit's probabilities and its example's index, for the figures of the final decision."""
    from sklearn.model_selection import KFold

    unit_owner: list[int] = []
    unit_texts: list[str] = []
    for i, text in enumerate(texts):
        for a, b in assessment_units(text):
            unit_owner.append(i)
            unit_texts.append(text[a:b])
    owner = np.array(unit_owner)
    unit_vecs = embed(unit_texts)
    outs = [np.zeros(len(texts)) for _ in targets]
    unit_p = np.zeros((len(unit_texts), len(targets)))
    for train, test in KFold(folds, shuffle=True, random_state=13).split(vectors):
        vecs = _vectorizers([texts[i] for i in train])
        x_tr = _features(vecs, [texts[i] for i in train], vectors[train])
        in_test = np.isin(owner, test)
        idx = np.flatnonzero(in_test)
        x_te = _features(vecs, [unit_texts[i] for i in idx], unit_vecs[idx])
        for k, (y, out) in enumerate(zip(targets, outs, strict=True)):
            clf = _fit(x_tr, y[train], C_VALUE)
            p = clf.predict_proba(x_te)[:, 1] if clf is not None else np.full(len(idx), y[train].mean())
            unit_p[idx, k] = p
            best = np.zeros(len(texts))
            np.maximum.at(best, owner[idx], p)
            out[test] = best[test]
    return outs, unit_p, owner


C_VALUE = 4.0


def train(
    examples: list[Example], fp: str, texts: list[str] | None = None, rule_ranks: np.ndarray | None = None
) -> SemanticModel:
    """Fit the ordinal and category classifiers and choose their operating points.

    `rule_ranks` (the rules' severity rank of each example) lets the operating points count
    what the rules already catch, since the layer only ever raises the rules' severity."""
    texts = texts if texts is not None else [e.text for e in examples]
    vectors = embed(texts)
    ranks = np.array([rank(e.severity) for e in examples])
    rule_ranks = rule_ranks if rule_ranks is not None else np.zeros(len(examples), dtype=int)
    cat_names = [c for c in CATEGORIES if any(c in e.categories for e in examples)]
    level_y = [(ranks >= j + 1).astype(int) for j in range(len(LEVELS))]
    cat_y = [np.array([c in e.categories for e in examples]).astype(int) for c in cat_names]
    oof, unit_p, owner = _oof_all(texts, vectors, level_y + cat_y)
    vectorizers = _vectorizers(texts)
    x = _features(vectorizers, texts, vectors)
    dims = x.shape[1]
    level_w = np.zeros((dims, len(LEVELS)))
    level_b = np.zeros(len(LEVELS))
    level_t = np.ones(len(LEVELS))
    stats: dict = {"n": len(examples), "levels": {}, "categories": {}}
    benign = ranks == 0
    for j, lvl in enumerate(LEVELS):
        y = level_y[j]
        # "low" is held to the flag-recall target: examples expected at moderate or above.
        positive = (ranks >= 2) if lvl == "low" else (y == 1)
        caught = rule_ranks >= j + 1
        t = _threshold_for_recall(oof[j], positive, TARGET_RECALL[lvl], caught)
        clf = _fit(x, y, C_VALUE)
        if clf is not None:
            level_w[:, j] = clf.coef_[0]
            level_b[j] = clf.intercept_[0]
            level_t[j] = t
        found = caught | (oof[j] >= t)
        stats["levels"][lvl] = {
            "positives": int(positive.sum()),
            "threshold": round(t, 3),
            "oof_recall_with_rules": round(float(found[positive].mean()) if positive.sum() else 0.0, 3),
            "oof_benign_rate": round(float(found[benign].mean()) if benign.sum() else 0.0, 3),
        }

    # Out-of-fold figures of the whole decision (operating points, confidence, rules as floor,
    # the layer's own raise capped at high; the near-identical hold is left out), and the
    # confidence `high` needs: the highest at which urgent recall (expected >= high, predicted
    # >= high) stays at least what v4's strict ordinal chain without it reached on the same
    # folds, so false alarms fall without losing urgent recall.
    def _rate(mask: np.ndarray, hit: np.ndarray) -> float:
        return round(float(hit[mask].mean()), 3) if mask.sum() else 0.0

    def _final(unit_rank: np.ndarray) -> np.ndarray:
        sem = np.zeros(len(examples), dtype=int)
        np.maximum.at(sem, owner, np.minimum(unit_rank, 3))
        return np.maximum(sem, rule_ranks)

    def _figures(final: np.ndarray) -> dict:
        return {
            "urgent_recall": _rate(ranks >= 3, final >= 3),
            "flag_recall": _rate(ranks >= 2, final >= 1),
            "benign_false_alarms": _rate(benign, final >= 2),
            "benign_at_low_or_above": _rate(benign, final >= 1),
        }

    level_p = unit_p[:, : len(LEVELS)]
    final_v4 = _final(np.cumprod(level_p >= level_t, axis=1).sum(axis=1))
    urgent_v4 = float((final_v4 >= 3)[ranks >= 3].mean()) if (ranks >= 3).any() else 0.0
    high_confident = 0.0
    for c in np.arange(0.30, 0.96, 0.01):
        final = _final(unit_ranks(level_p, level_t, float(c)))
        if (ranks >= 3).any() and float((final >= 3)[ranks >= 3].mean()) < urgent_v4:
            break
        high_confident = round(float(c), 2)
    stats["high_confident"] = high_confident
    stats["oof_decision"] = _figures(_final(unit_ranks(level_p, level_t, high_confident)))
    stats["oof_decision_v4_rule"] = _figures(final_v4)
    cat_w = np.zeros((dims, len(cat_names)))
    cat_b = np.zeros(len(cat_names))
    cat_t = np.ones(len(cat_names))
    risky = ranks >= 1
    for j, cat in enumerate(cat_names):
        y = cat_y[j]
        t = _threshold_for_recall(oof[len(LEVELS) + j], (y == 1) & risky, CATEGORY_RECALL)
        clf = _fit(x, y, C_VALUE)
        if clf is not None:
            cat_w[:, j] = clf.coef_[0]
            cat_b[j] = clf.intercept_[0]
            cat_t[j] = t
        stats["categories"][cat] = {"positives": int(y.sum()), "threshold": round(t, 3)}
    return SemanticModel(
        fingerprint=fp,
        vectorizers=vectorizers,
        level_w=level_w.astype(np.float32),
        level_b=level_b.astype(np.float32),
        level_t=level_t.astype(np.float32),
        cat_names=cat_names,
        cat_w=cat_w.astype(np.float32),
        cat_b=cat_b.astype(np.float32),
        cat_t=cat_t.astype(np.float32),
        ex_vectors=vectors.astype(np.float32),
        ex_meta=[(e.id, e.text, e.severity, e.categories) for e in examples],
        stats=stats,
        high_confident=high_confident,
    )


def model_path(fp: str, models_dir: Path | None = None) -> Path:
    return (models_dir or MODELS_DIR) / f"semantic-{fp}.pkl"


def ensure_semantic_model(
    *,
    models_dir: Path | None = None,
    example_files: list[Path] | None = None,
    lexicon_files: list[Path] | None = None,
    force: bool = False,
    log=print,  # type: ignore[no-untyped-def]
) -> Path:
    """Return the trained semantic model for the current examples, training it only if no
    cached file has the same content hash. Written atomically (several processes may race)."""
    from bot.safety.detector import Detector
    from bot.safety.detector import lexicon_paths as configured_lexicon
    from bot.safety.lexicon import load_lexicon
    from bot.safety.normalize import normalize

    example_files = example_files if example_files is not None else example_paths()
    lexicon_files = lexicon_files if lexicon_files is not None else configured_lexicon()
    fp = fingerprint(example_files, lexicon_files)
    path = model_path(fp, models_dir)
    if path.is_file() and not force:
        log(f"Safety model {path.name} is up to date (no retraining needed).")
        return path
    if not force and model_cache.fetch(path.name, path):
        log(f"Safety model {path.name} copied from the model cache (no retraining needed).")
        return path
    log(f"Training the safety model {path.name} from {len(example_files)} example files ...")
    examples = load_examples(example_files)
    lex = load_lexicon(lexicon_files)
    texts = [normalize(e.text, emoji=lex.emoji, words=lex.words).text for e in examples]
    rules = Detector(lex)
    rule_ranks = np.array([rank(rules.assess(e.text).severity) for e in examples])
    model = train(examples, fp, texts, rule_ranks)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".semantic-", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    (path.with_suffix(".json")).write_text(json.dumps(model.stats, indent=2), encoding="utf-8")
    _prune(path)
    model_cache.put(path)
    log(f"Trained {path.name} ({len(examples)} examples).")
    return path


def _prune(keep: Path, count: int = 3) -> None:
    old = sorted(
        (p for p in keep.parent.glob("semantic-*.pkl") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for p in old[count - 1 :]:
        p.unlink(missing_ok=True)
        p.with_suffix(".json").unlink(missing_ok=True)


def load_model(path: Path) -> SemanticModel:
    with open(path, "rb") as fh:
        model = pickle.load(fh)  # noqa: S301  # our own file, written by ensure_semantic_model
    if not isinstance(model, SemanticModel):
        raise TypeError(f"{path} is not a semantic risk model")
    return model
