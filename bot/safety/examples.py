"""The semantic layer's labelled examples: YAML files clinics can read and extend.

One file per category (clinic/safety/examples/suicide.yml, ...) plus benign.yml for ordinary
messages and hard negatives (integration imagery, idioms, dosing and logistics questions):

    category: suicide          # the file's category ("none" in benign.yml)
    examples:
      - text: i keep thinking everyone would be fine without me
        severity: moderate     # none | low | moderate | high | critical
      - text: took all my troches and my partner is out
        severity: critical
        also: [substance]      # further categories of the same message (optional)

Each example gets a stable id from its text, so a flag can point at the examples it was
close to without storing their words next to the patient's.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import CLINIC_DIR
from bot.safety.assessment import CATEGORIES, SEVERITIES
from bot.yamlfile import read_yaml

DEFAULT_EXAMPLES = CLINIC_DIR / "safety" / "examples"


class ExamplesError(Exception):
    """An example file is unreadable or invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    severity: str
    categories: tuple[str, ...]  # empty for benign examples
    source: str  # file name


def example_id(text: str) -> str:
    """A short, stable id from the text (case and spacing ignored)."""
    key = re.sub(r"\s+", " ", text.strip().lower())
    return "ex-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def example_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """The example folder (INTERLUDE_SAFETY_EXAMPLES) plus a clinic's extra folders or files
    (INTERLUDE_SAFETY_EXAMPLES_EXTRA, os.pathsep-separated), as a sorted list of YAML files."""
    env = os.environ if environ is None else environ
    roots = [Path(env.get("INTERLUDE_SAFETY_EXAMPLES", "") or DEFAULT_EXAMPLES)]
    roots += [Path(p) for p in env.get("INTERLUDE_SAFETY_EXAMPLES_EXTRA", "").split(os.pathsep) if p.strip()]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files += sorted(p for p in root.iterdir() if p.suffix in (".yml", ".yaml"))
        elif root.is_file():
            files.append(root)
        else:
            raise ExamplesError(f"The safety examples {root} do not exist.")
    return files


def _parse(data: Any, path: Path) -> list[Example]:
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list):
        raise ExamplesError(f"{path} must be a mapping with a 'category' and a list of 'examples'.")
    category = data.get("category")
    if category != "none" and category not in CATEGORIES:
        raise ExamplesError(
            f"{path}: unknown category {category!r} (none, or one of {', '.join(CATEGORIES)})."
        )
    out: list[Example] = []
    for i, entry in enumerate(data["examples"]):
        where = f"{path}: examples[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise ExamplesError(f"{where} needs a non-empty 'text'.")
        severity = entry.get("severity", "none" if category == "none" else None)
        if severity not in SEVERITIES:
            raise ExamplesError(
                f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {severity!r}."
            )
        also = entry.get("also") or []
        if not isinstance(also, list) or any(c not in CATEGORIES for c in also):
            raise ExamplesError(f"{where}: 'also' must be a list of categories.")
        if category == "none" and severity != "none":
            cats: tuple[str, ...] = tuple(dict.fromkeys(also))
            if not cats:
                raise ExamplesError(f"{where}: a benign example with severity {severity} needs 'also'.")
        else:
            cats = () if severity == "none" else tuple(dict.fromkeys([category, *also]))
        text = entry["text"].strip()
        out.append(Example(example_id(text), text, severity, cats, path.name))
    return out


def load_examples(paths: list[Path] | None = None) -> list[Example]:
    """Every example, in file order; a later duplicate of the same text is dropped."""
    seen: set[str] = set()
    out: list[Example] = []
    for path in paths if paths is not None else example_paths():
        for ex in _parse(read_yaml(path, ExamplesError), path):
            if ex.id not in seen:
                seen.add(ex.id)
                out.append(ex)
    if not out:
        raise ExamplesError("No safety examples were loaded.")
    return out


_index: tuple[tuple, dict[str, Example]] | None = None


def example_index() -> dict[str, Example]:
    """Examples by id, for showing a flag's closest examples (reloaded when a file changes)."""
    global _index
    paths = example_paths()
    key = tuple((str(p), p.stat().st_mtime_ns) for p in paths)
    if _index is None or _index[0] != key:
        _index = (key, {e.id: e for e in load_examples(paths)})
    return _index[1]
