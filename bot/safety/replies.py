"""The crisis reply a patient reads: chosen by category and severity, and honest about alerts.

Wording lives in clinic/safety/replies.yml (clinic-editable). "Alerted" is said only when an
alert was queued to a channel configured for the patient's clinic; otherwise the reply says
the care team will see it in the portal during clinic hours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.config import CLINIC_DIR
from bot.safety.assessment import CATEGORIES, SEVERITIES, rank
from bot.safety.resources import CrisisResources
from bot.yamlfile import read_yaml

DEFAULT_REPLIES = CLINIC_DIR / "safety" / "replies.yml"


WHO_KEYS = ("alerted", "alerted_on_call", "portal")
#: Replies outside the crisis reply that say who sees what the patient shared.
FOLLOWUPS = ("safe_yes", "safe_no", "checkin_held")


class RepliesError(Exception):
    pass


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    data = read_yaml(path, RepliesError)
    try:
        who = {k: str(data["who_sees"][k]).strip() for k in WHO_KEYS}
        categories = {str(c): dict(v) for c, v in data["categories"].items()}
        precedence = [str(c) for c in data["precedence"]]
        raised = str(data["screener_raised"]).strip()
        followups = {
            str(kind): {k: str(entry[k]).strip() for k in ("text", *WHO_KEYS)}
            for kind, entry in data["followups"].items()
        }
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RepliesError(
            f"{path} needs who_sees, precedence, categories, followups and screener_raised ({exc})."
        ) from None
    missing = set(FOLLOWUPS) - set(followups)
    if missing:
        raise RepliesError(f"{path}: followups needs {sorted(missing)}.")
    if "suicide" not in categories or not all(s in categories["suicide"] for s in SEVERITIES[1:]):
        raise RepliesError(f"{path}: categories.suicide needs low, moderate, high and critical.")
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise RepliesError(f"{path}: unknown categories {sorted(unknown)}.")
    return {
        "who": who,
        "categories": categories,
        "precedence": precedence,
        "raised": raised,
        "followups": followups,
    }


def check(path: Path = DEFAULT_REPLIES) -> None:
    """Load the file now, so a broken one stops start-up instead of a crisis reply."""
    _load(path)


def who_sees(*, alerted: bool, on_call: bool, recorded: bool = True, path: Path = DEFAULT_REPLIES) -> str:
    """The honest sentence about who sees this message, and when. Nothing when the flag could
    not be recorded: the caller then says so (utter_safety_not_recorded)."""
    who = _load(path)["who"]
    if not recorded:
        return ""
    if not alerted:
        return who["portal"]
    return who["alerted_on_call"] if on_call else who["alerted"]


def primary_category(risk: Mapping[str, Any], path: Path = DEFAULT_REPLIES) -> str:
    """The category the reply speaks to: that of the most severe rule, ties broken by the
    file's precedence (a medical emergency first). PHQ-9 item 9 and unknowns read as suicide."""
    precedence = _load(path)["precedence"]
    rules = [
        r
        for r in risk.get("rules") or []
        if r.get("category") in CATEGORIES and r.get("severity") in SEVERITIES
    ]
    candidates: Sequence[str]
    if rules:
        top = max(rank(r["severity"]) for r in rules)
        candidates = [r["category"] for r in rules if rank(r["severity"]) == top]
    else:
        candidates = [c for c in risk.get("categories") or [] if c in CATEGORIES]
    if not candidates:
        return "suicide"
    return min(candidates, key=lambda c: precedence.index(c) if c in precedence else len(precedence))


def crisis_reply(
    risk: Mapping[str, Any],
    resources: CrisisResources,
    *,
    alerted: bool,
    on_call: bool,
    clinic_line: str = "",
    recorded: bool = True,
    path: Path = DEFAULT_REPLIES,
) -> str:
    """The whole crisis reply for this assessment."""
    data = _load(path)
    severity = str(risk.get("severity") or "high")
    category = primary_category(risk, path)
    templates = data["categories"].get(category, {})
    template = templates.get(severity) or templates.get("default") or data["categories"]["suicide"][severity]
    return _fill(
        str(template),
        resources,
        alerted=alerted,
        on_call=on_call,
        clinic_line=clinic_line,
        recorded=recorded,
        path=path,
    )


def screener_raised_reply(
    resources: CrisisResources,
    *,
    alerted: bool,
    on_call: bool,
    clinic_line: str = "",
    path: Path = DEFAULT_REPLIES,
) -> str:
    return _fill(
        _load(path)["raised"],
        resources,
        alerted=alerted,
        on_call=on_call,
        clinic_line=clinic_line,
        recorded=True,
        path=path,
    )


def followup_reply(
    kind: str,
    resources: CrisisResources,
    *,
    alerted: bool,
    on_call: bool,
    clinic_line: str = "",
    recorded: bool = True,
    path: Path = DEFAULT_REPLIES,
) -> str:
    """After "are you safe right now?" (safe_yes, safe_no) or a held check-in (checkin_held):
    "alerted" only when an alert went to a configured channel, "someone will contact you" only
    then; otherwise the portal during clinic hours. Nothing about the care team when the flag
    could not be recorded (the caller says so)."""
    entry = _load(path)["followups"][kind]
    key = "portal" if not alerted else "alerted_on_call" if on_call else "alerted"
    who = entry[key] if recorded else ""
    text = entry["text"].format(
        who=who,
        emergency=resources.emergency,
        resources=resources.as_text(clinic_line),
        clinic=f" Your clinic's urgent line: {clinic_line}." if clinic_line else "",
    )
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _fill(
    template: str,
    resources: CrisisResources,
    *,
    alerted: bool,
    on_call: bool,
    clinic_line: str,
    recorded: bool,
    path: Path,
) -> str:
    text = template.format(
        emergency=resources.emergency,
        resources=resources.as_text(clinic_line),
        clinic=f" Your clinic's urgent line: {clinic_line}." if clinic_line else "",
        who_sees=who_sees(alerted=alerted, on_call=on_call, recorded=recorded, path=path),
    )
    # An empty {who_sees} leaves a blank line or a double space behind.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()
