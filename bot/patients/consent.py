"""The consent text patients accept at first contact (clinic/consent.yml), and its version.

The sentence about what happens when a message suggests risk depends on whether the patient's
clinic has an alert channel configured: "alert your care team" is said only when one is. The
stored version names the sentence shown ("2026-11-v2+portal"), so what was agreed to is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.config import CLINIC_DIR
from bot.yamlfile import read_yaml

DEFAULT_CONSENT = CLINIC_DIR / "consent.yml"
ON_RISK = ("alerted", "portal")


class ConsentError(Exception):
    pass


@dataclass(frozen=True)
class ConsentText:
    version: str
    text: str


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[str, str, dict[str, str]]:
    data = read_yaml(path, ConsentError)
    if not isinstance(data, dict) or not data.get("version") or not data.get("text"):
        raise ConsentError(f"{path} needs a version and a text.")
    on_risk = data.get("on_risk") or {}
    if not isinstance(on_risk, dict) or not all(str(on_risk.get(k) or "").strip() for k in ON_RISK):
        raise ConsentError(f"{path} needs on_risk.alerted and on_risk.portal.")
    if "{on_risk}" not in str(data["text"]):
        raise ConsentError(f"{path}: the text needs {{on_risk}} where the sentence about risk goes.")
    return str(data["version"]), str(data["text"]).strip(), {k: str(on_risk[k]).strip() for k in ON_RISK}


def consent_text(*, alerts: bool, path: Path = DEFAULT_CONSENT) -> ConsentText:
    """The consent text for a patient whose clinic has (`alerts`) or has no alert channel."""
    version, text, on_risk = _load(path)
    key = "alerted" if alerts else "portal"
    return ConsentText(f"{version}+{key}", text.replace("{on_risk}", on_risk[key]))
