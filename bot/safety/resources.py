"""Crisis resources per locale, from data/safety/resources.yml (reviewable by the clinic)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.yamlfile import read_yaml

DEFAULT_RESOURCES = Path(__file__).resolve().parents[2] / "data" / "safety" / "resources.yml"


class ResourcesError(Exception):
    pass


@dataclass(frozen=True)
class CrisisResources:
    emergency: str
    lines: tuple[str, ...]

    def as_text(self, clinic_line: str = "") -> str:
        """Bullet list for a chat message; the clinic's own line first when configured."""
        items = ([f"Your clinic's urgent line: {clinic_line}"] if clinic_line else []) + list(self.lines)
        items.append(f"In an emergency, call {self.emergency}")
        return "\n".join(f"• {item}" for item in items)


@lru_cache(maxsize=4)
def _raw(path: Path) -> dict:
    data = read_yaml(path, ResourcesError)
    if not isinstance(data, dict):
        raise ResourcesError(f"The crisis resources file {path} must be a mapping.")
    return data


def coverage_text(on_call_cover: bool, path: Path = DEFAULT_RESOURCES) -> str:
    """The honest sentence about who sees messages, and when."""
    try:
        return str(_raw(path)["coverage"]["on_call" if on_call_cover else "office_hours"]).strip()
    except (KeyError, TypeError):
        raise ResourcesError(f"{path} needs coverage.office_hours and coverage.on_call.") from None


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, CrisisResources]:
    try:
        data = _raw(path)
        out = {}
        for locale, entry in data["locales"].items():
            lines = tuple(str(x) for x in entry["lines"])
            if not lines or not str(entry["emergency"]).strip():
                raise ResourcesError(f"{path}: locale {locale} needs an emergency number and lines.")
            out[locale] = CrisisResources(str(entry["emergency"]), lines)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ResourcesError(f"The crisis resources file {path} is missing or malformed ({exc}).") from None
    if "other" not in out:
        raise ResourcesError(f"{path} needs an 'other' locale for patients elsewhere.")
    return out


def resources_for(locale: str, path: Path = DEFAULT_RESOURCES) -> CrisisResources:
    """Resources for a locale like en-GB; falls back to the language-less 'other' list."""
    table = _load(path)
    return table.get(locale) or table.get(locale.replace("_", "-")) or table["other"]
