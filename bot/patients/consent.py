"""The consent text patients accept at first contact (clinic/consent.yml), and its version."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.config import CLINIC_DIR
from bot.yamlfile import read_yaml

DEFAULT_CONSENT = CLINIC_DIR / "consent.yml"


class ConsentError(Exception):
    pass


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str


@lru_cache(maxsize=1)
def consent_text(path: Path = DEFAULT_CONSENT) -> ConsentText:
    data = read_yaml(path, ConsentError)
    if not isinstance(data, dict) or not data.get("version") or not data.get("text"):
        raise ConsentError(f"{path} needs a version and a text.")
    return ConsentText(str(data["version"]), str(data["text"]).strip())
