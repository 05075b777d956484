"""Prompt sets as data: clinic-editable YAML files in clinic/prompts/, validated at start.

id: daily                    # unique; matches the file name
title: Daily check-in
instrument: phq9             # optional: phq9 | gad7 (answers are scored)
intro: "..."                 # optional, said before the first prompt
outro: "Thank you ... {summary} ..."
prompts:
  - key: mood
    text: "How is your mood today, from 0 (very low) to 10 (very good)?"
    type: scale              # scale | text | choice | number | yes_no
    min: 0
    max: 10
    skippable: true          # default true
    hint: "..."              # optional: said once when an answer cannot be understood
    options: [...]           # choice: [{value: 0, label: Not at all}, ...]
    risk: phq9_item9         # optional: this answer can start the safety path
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config import CLINIC_DIR
from bot.yamlfile import read_yaml

DEFAULT_DIR = CLINIC_DIR / "prompts"
TYPES = ("scale", "text", "choice", "number", "yes_no")
RISKS = ("phq9_item9",)


class PromptSetError(Exception):
    """A prompt-set file is invalid; the message names the file and the prompt."""


@dataclass(frozen=True)
class Option:
    value: int
    label: str


@dataclass(frozen=True)
class Prompt:
    key: str
    text: str
    type: str
    min: int = 0
    max: int = 10
    skippable: bool = True
    hint: str = ""
    options: tuple[Option, ...] = ()
    risk: str | None = None
    #: Asked next only when this answer calls for it: ("at_least", n) on a number, or ("yes",).
    follow_up_when: tuple = ()
    follow_up: Prompt | None = None

    def wants_follow_up(self, value: float | None, text: str | None) -> bool:
        if self.follow_up is None or not self.follow_up_when:
            return False
        kind = self.follow_up_when[0]
        if kind == "at_least":
            return value is not None and value >= self.follow_up_when[1]
        if kind == "yes":
            return value == 1.0
        return False


@dataclass(frozen=True)
class PromptSet:
    id: str
    title: str
    prompts: tuple[Prompt, ...]
    outro: str
    intro: str = ""
    instrument: str | None = None
    then: str | None = None  # a set that follows this one directly (PHQ-9, then GAD-7)
    source: str = ""

    def prompt(self, index: int) -> Prompt | None:
        return self.prompts[index] if 0 <= index < len(self.prompts) else None


@dataclass(frozen=True)
class Catalogue:
    sets: dict[str, PromptSet] = field(default_factory=dict)

    def get(self, set_id: str) -> PromptSet:
        if set_id not in self.sets:
            raise PromptSetError(f"No prompt set {set_id!r}.")
        return self.sets[set_id]

    def title(self, set_id: str) -> str:
        """The set's title as a clinician reads it ("Daily check-in"); the id if it is gone."""
        ps = self.sets.get(set_id)
        return ps.title if ps else set_id.replace("_", " ")

    def find(self, set_id: str, key: str) -> Prompt | None:
        """The prompt (or follow-up) a stored answer replied to, or None if the set changed since."""
        ps = self.sets.get(set_id)
        for p in ps.prompts if ps else ():
            if p.key == key:
                return p
            if p.follow_up is not None and p.follow_up.key == key:
                return p.follow_up
        return None

    def for_instrument(self, instrument: str) -> PromptSet | None:
        return next((ps for ps in self.sets.values() if ps.instrument == instrument), None)

    def question(self, set_id: str, key: str) -> str:
        """The question a stored answer replied to; the key itself if the set has changed since."""
        found = self.find(set_id, key)
        return found.text if found else key.replace("_", " ")


def _prompt(raw: Any, where: str) -> Prompt:
    if not isinstance(raw, dict):
        raise PromptSetError(f"{where} must be a mapping.")
    for key in ("key", "text", "type"):
        if not raw.get(key):
            raise PromptSetError(f"{where} needs '{key}'.")
    where = f"{where} ({raw['key']})"
    if raw["type"] not in TYPES:
        raise PromptSetError(f"{where}: type must be one of {', '.join(TYPES)}, not {raw['type']!r}.")
    options: tuple[Option, ...] = ()
    if raw["type"] == "choice":
        opts = raw.get("options")
        if not isinstance(opts, list) or len(opts) < 2:
            raise PromptSetError(f"{where}: a choice needs at least two options.")
        try:
            options = tuple(Option(int(o["value"]), str(o["label"])) for o in opts)
        except (KeyError, TypeError, ValueError):
            raise PromptSetError(f"{where}: each option needs an integer value and a label.") from None
    lo, hi = int(raw.get("min", 0)), int(raw.get("max", 10))
    if lo >= hi:
        raise PromptSetError(f"{where}: min must be below max.")
    risk = raw.get("risk")
    if risk is not None and risk not in RISKS:
        raise PromptSetError(f"{where}: unknown risk {risk!r} (known: {', '.join(RISKS)}).")
    follow_up, when = None, ()
    if raw.get("follow_up") is not None:
        fu = raw["follow_up"]
        if not isinstance(fu, dict) or not isinstance(fu.get("when"), dict):
            raise PromptSetError(f"{where}: follow_up needs 'when' (at_least: N, or yes: true) and a prompt.")
        cond = fu["when"]
        if "at_least" in cond and raw["type"] in ("scale", "number", "choice"):
            when = ("at_least", float(cond["at_least"]))
        elif cond.get("yes") is True and raw["type"] == "yes_no":
            when = ("yes",)
        else:
            raise PromptSetError(f"{where}: follow_up.when must be at_least (numbers) or yes (yes/no).")
        follow_up = _prompt({k: v for k, v in fu.items() if k != "when"}, f"{where} follow-up")
    return Prompt(
        key=str(raw["key"]),
        text=str(raw["text"]).strip(),
        type=raw["type"],
        min=lo,
        max=hi,
        skippable=bool(raw.get("skippable", True)),
        hint=str(raw.get("hint", "")).strip(),
        options=options,
        risk=risk,
        follow_up_when=when,
        follow_up=follow_up,
    )


def parse_prompt_set(data: Any, source: str) -> PromptSet:
    if not isinstance(data, dict):
        raise PromptSetError(f"{source} must be a YAML mapping.")
    for key in ("id", "title", "outro", "prompts"):
        if not data.get(key):
            raise PromptSetError(f"{source} needs '{key}'.")
    raw_prompts = data["prompts"]
    if not isinstance(raw_prompts, list):
        raise PromptSetError(f"{source}: 'prompts' must be a list.")
    prompts = tuple(_prompt(p, f"{source}: prompt {i + 1}") for i, p in enumerate(raw_prompts))
    keys = [p.key for p in prompts] + [p.follow_up.key for p in prompts if p.follow_up]
    if len(set(keys)) != len(keys):
        raise PromptSetError(f"{source}: prompt keys must be unique.")
    instrument = data.get("instrument")
    if instrument is not None:
        from bot.prompts.instruments import ITEMS

        if instrument not in ITEMS:
            raise PromptSetError(f"{source}: unknown instrument {instrument!r}.")
        if len(prompts) != ITEMS[instrument] or any(p.type != "choice" or p.skippable for p in prompts):
            raise PromptSetError(
                f"{source}: {instrument} needs exactly {ITEMS[instrument]} choice prompts that cannot be "
                "skipped (scores are exact, never prorated)."
            )
    return PromptSet(
        id=str(data["id"]),
        title=str(data["title"]),
        prompts=prompts,
        outro=str(data["outro"]).strip(),
        intro=str(data.get("intro", "")).strip(),
        instrument=instrument,
        then=str(data["then"]) if data.get("then") else None,
        source=source,
    )


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Load every set in `directory` (default: INTERLUDE_PROMPTS_DIR, else clinic/prompts/)."""
    directory = directory or Path(os.environ.get("INTERLUDE_PROMPTS_DIR", "") or DEFAULT_DIR)
    sets: dict[str, PromptSet] = {}
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise PromptSetError(f"No prompt sets found in {directory}.")
    for path in files:
        data = read_yaml(path, PromptSetError)
        ps = parse_prompt_set(data, str(path))
        if ps.id != path.stem:
            raise PromptSetError(f"{path}: id {ps.id!r} must match the file name {path.stem!r}.")
        sets[ps.id] = ps
    for ps in sets.values():
        if ps.then and ps.then not in sets:
            raise PromptSetError(f"{ps.source}: 'then' names an unknown set {ps.then!r}.")
    return Catalogue(sets)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return load_catalogue()
