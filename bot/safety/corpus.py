"""Adding labelled JSON-lines sets to the semantic layer's examples, without near-duplicates.

    python -m bot.safety.corpus FILE.jsonl [FILE.jsonl ...] [--examples DIR]

Each line is {"text", "categories", "min_severity"}. An example goes to the file of its first
category (benign.yml when the severity is none), with its further categories under `also`.
A line is skipped as a near-duplicate of an example already kept (from the files or from
earlier lines) when either
- its embedding's cosine similarity to that example is above 0.95, or
- the Jaccard similarity of their character 3-gram sets is above 0.8.
Counts of what was added and skipped are printed, so the README can say how the set was built.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from bot.safety.assessment import CATEGORIES, SEVERITIES
from bot.safety.examples import DEFAULT_EXAMPLES, example_id

COSINE_MAX = 0.95
JACCARD_MAX = 0.8


def trigrams(text: str) -> frozenset[str]:
    t = " " + re.sub(r"\s+", " ", text.lower().strip()) + " "
    return frozenset(t[i : i + 3] for i in range(len(t) - 2))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _read(folder: Path) -> dict[str, dict]:
    files: dict[str, dict] = {}
    for path in sorted(folder.glob("*.yml")):
        files[path.name] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return files


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def add_jsonl(paths: list[Path], folder: Path = DEFAULT_EXAMPLES, *, origin: str = "") -> Counter:
    from bot.safety.semantic import embed

    files = _read(folder)
    kept_texts = [ex["text"] for data in files.values() for ex in data.get("examples") or []]
    kept_ids = {example_id(t) for t in kept_texts}
    kept_grams = [trigrams(t) for t in kept_texts]
    kept_vecs = [embed(kept_texts)] if kept_texts else []
    counts: Counter = Counter()
    for path in paths:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            text = str(item.get("text", "")).strip()
            severity = item.get("min_severity", "none")
            cats = [c for c in item.get("categories") or [] if c in CATEGORIES]
            if not text or severity not in SEVERITIES or (severity != "none" and not cats):
                counts["skipped: invalid"] += 1
                print(f"{path}:{lineno}: skipped (invalid label)", file=sys.stderr)
                continue
            if example_id(text) in kept_ids:
                counts["skipped: exact duplicate"] += 1
                continue
            grams = trigrams(text)
            if any(_jaccard(grams, g) > JACCARD_MAX for g in kept_grams):
                counts["skipped: 3-gram Jaccard > 0.8"] += 1
                continue
            vec = embed([text])
            if kept_vecs and float(np.max(np.vstack(kept_vecs) @ vec[0])) > COSINE_MAX:
                counts["skipped: cosine > 0.95"] += 1
                continue
            name = "benign.yml" if severity == "none" else f"{cats[0]}.yml"
            data = files.setdefault(
                name, {"category": "none" if severity == "none" else cats[0], "examples": []}
            )
            entry: dict = {"text": text, "severity": severity}
            if severity != "none" and len(cats) > 1:
                entry["also"] = cats[1:]
            if origin:
                entry["from"] = origin
            data.setdefault("examples", []).append(entry)
            kept_ids.add(example_id(text))
            kept_grams.append(grams)
            kept_vecs.append(vec)
            counts[f"added {severity}"] += 1
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        header = path.read_text(encoding="utf-8").split("\ncategory:")[0] if path.exists() else ""
        header = header if header.startswith("#") else ""
        (folder / name).write_text((header + "\n" if header else "") + _dump(data), encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--examples", type=Path, default=DEFAULT_EXAMPLES)
    parser.add_argument("--origin", default="", help="recorded on each added example ('from')")
    args = parser.parse_args(argv)
    counts = add_jsonl(args.files, args.examples, origin=args.origin)
    for key, n in sorted(counts.items()):
        print(f"{key}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
