"""Crisis resources per locale, from clinic/safety/resources.yml (reviewable by the clinic)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.config import CLINIC_DIR
from bot.yamlfile import read_yaml

DEFAULT_RESOURCES = CLINIC_DIR / "safety" / "resources.yml"


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


def coverage_text(*, alerts: bool, on_call_cover: bool, path: Path = DEFAULT_RESOURCES) -> str:
    """The honest sentence about who sees messages, and when: "alerted" only when an alert
    channel is configured for the patient's clinic (`alerts`), on-call only with one too."""
    key = "office_hours" if not alerts else "on_call" if on_call_cover else "alerted"
    try:
        return str(_raw(path)["coverage"][key]).strip()
    except (KeyError, TypeError):
        raise ResourcesError(
            f"{path} needs coverage.office_hours, coverage.alerted and coverage.on_call."
        ) from None


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


#: Countries with their own crisis list in resources.yml; elsewhere "en-XX" falls back to "other".
_ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")
_ZONE_FALLBACK = {
    "Europe/London": "GB",
    "Europe/Belfast": "GB",
    "Europe/Dublin": "IE",
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Los_Angeles": "US",
    "America/Phoenix": "US",
    "America/Anchorage": "US",
    "Pacific/Honolulu": "US",
    "America/Toronto": "CA",
    "America/Vancouver": "CA",
    "America/Montreal": "CA",
    "America/Edmonton": "CA",
    "America/Winnipeg": "CA",
    "America/Halifax": "CA",
    "Australia/Sydney": "AU",
    "Australia/Melbourne": "AU",
    "Australia/Brisbane": "AU",
    "Australia/Perth": "AU",
    "Australia/Adelaide": "AU",
}


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    table = dict(_ZONE_FALLBACK)
    try:
        for line in _ZONE_TAB.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                parts = line.split("\t")
                if len(parts) >= 3:
                    table[parts[2]] = parts[0]
    except OSError:
        pass
    return table


def country_for_timezone(timezone: str) -> str | None:
    """The ISO country of an IANA time zone ("Europe/London" -> "GB"), if it names one."""
    return _zone_countries().get(timezone)


def locale_for(timezone: str, clinic_country: str = "", default: str = "en-US") -> str:
    """The locale (crisis numbers) for a patient enrolled without one: where the patient is, by
    their time zone; else the clinic's country; else the default."""
    country = country_for_timezone(timezone) or (clinic_country or "").strip().upper() or None
    return f"en-{country}" if country and len(country) == 2 else default
