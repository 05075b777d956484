"""The clinic's check-in plan (clinic/schedule.yml) and the pure planner that turns a patient's
dosing sessions into due times: local wall-clock rules, quiet hours, the patient's preferred
time, daylight-saving changes, all resolved to UTC here. No database, no clock of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import CLINIC_DIR
from bot.yamlfile import read_yaml

PLAN_FILE = CLINIC_DIR / "schedule.yml"
_DURATION = re.compile(r"^(\d+)\s*(m|h|d)$")


class PlanError(Exception):
    """The plan file is broken; the message names the file and the field."""


@dataclass(frozen=True)
class SessionRule:
    prompt_set: str
    day: int
    at: time | None


@dataclass(frozen=True)
class Plan:
    quiet_start: time
    quiet_end: time
    default_time: time
    nudge_after: timedelta
    expire_after: timedelta
    around_sessions: tuple[SessionRule, ...]
    weekly_set: str | None
    weeks_after_last: int
    daily_set: str | None


@dataclass(frozen=True)
class Due:
    """One planned check-in."""

    prompt_set: str
    due_at: datetime  # UTC
    kind: str  # session | weekly | daily
    session_id: int | None = None


def parse_hhmm(value: object, where: str) -> time:
    """'8pm', '20:00', '8:30 am' -> time; PlanError naming `where` otherwise."""
    text = str(value).strip().lower().replace(".", "")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text)
    if m:
        hour, minute, half = int(m.group(1)), int(m.group(2) or 0), m.group(3)
        if half:
            if not 1 <= hour <= 12:
                m = None
            else:
                hour = hour % 12 + (12 if half == "pm" else 0)
        if m and hour < 24 and minute < 60:
            return time(hour, minute)
    raise PlanError(f"{where} must be a time of day like 20:00 or 8pm, not {value!r}.")


def parse_duration(value: object, where: str) -> timedelta:
    m = _DURATION.match(str(value).strip())
    if not m:
        raise PlanError(f"{where} must be a duration like 30m, 4h or 2d, not {value!r}.")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def load_plan(path: Path = PLAN_FILE, known_sets: set[str] | None = None) -> Plan:
    """Read and validate the plan; `known_sets` (prompt set ids) are checked when given."""
    data = read_yaml(path, PlanError)
    if not isinstance(data, dict):
        raise PlanError(f"{path} must be a mapping.")
    where = path.name

    def known(set_id: object, field: str) -> str:
        if not isinstance(set_id, str) or not set_id:
            raise PlanError(f"{where}: {field} needs a prompt_set.")
        if known_sets is not None and set_id not in known_sets:
            raise PlanError(f"{where}: {field} names an unknown prompt set {set_id!r}.")
        return set_id

    quiet = data.get("quiet_hours") or {}
    rules = []
    for i, item in enumerate(data.get("around_sessions") or []):
        if not isinstance(item, dict) or not isinstance(item.get("day"), int):
            raise PlanError(f"{where}: around_sessions[{i}] needs prompt_set and a whole-number day.")
        at = parse_hhmm(item["at"], f"{where}: around_sessions[{i}].at") if item.get("at") else None
        rules.append(SessionRule(known(item.get("prompt_set"), f"around_sessions[{i}]"), item["day"], at))
    weekly = data.get("weekly") or {}
    daily = data.get("daily") or {}
    plan = Plan(
        quiet_start=parse_hhmm(quiet.get("start", "21:00"), f"{where}: quiet_hours.start"),
        quiet_end=parse_hhmm(quiet.get("end", "08:00"), f"{where}: quiet_hours.end"),
        default_time=parse_hhmm(data.get("default_time", "18:00"), f"{where}: default_time"),
        nudge_after=parse_duration(data.get("nudge_after", "4h"), f"{where}: nudge_after"),
        expire_after=parse_duration(data.get("expire_after", "24h"), f"{where}: expire_after"),
        around_sessions=tuple(rules),
        weekly_set=known(weekly["prompt_set"], "weekly") if weekly else None,
        weeks_after_last=int(weekly.get("weeks_after_last", 2)) if weekly else 0,
        daily_set=known(daily["prompt_set"], "daily") if daily else None,
    )
    if plan.nudge_after >= plan.expire_after:
        raise PlanError(f"{where}: nudge_after must be shorter than expire_after.")
    return plan


@lru_cache(maxsize=1)
def default_plan() -> Plan:
    """The clinic's plan. Its prompt set ids are checked against the prompt sets at start-up
    (`bot/app.py`, which sees both): the schedule does not depend on the prompts package."""
    return load_plan(PLAN_FILE)


def in_quiet_hours(t: time, plan: Plan) -> bool:
    start, end = plan.quiet_start, plan.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end  # the window wraps midnight (21:00-08:00)


def local_due(day: date, at: time, tz: ZoneInfo, plan: Plan) -> datetime:
    """The UTC instant of `at` on local `day`, moved out of quiet hours.

    A wall time inside quiet hours waits for their end (the same morning, or the next one).
    A wall time skipped by a spring-forward change lands just after it (zoneinfo's fold=0
    reading of a gap time uses the old offset); a repeated one takes its first occurrence.
    """
    if in_quiet_hours(at, plan):
        if plan.quiet_start > plan.quiet_end and at >= plan.quiet_start:
            day = day + timedelta(days=1)
        at = plan.quiet_end
    return datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)


def plan_for_sessions(
    sessions: list[tuple[int, datetime]],
    tz: ZoneInfo,
    plan: Plan,
    preferred: time | None = None,
) -> list[Due]:
    """Check-ins around the given dosing sessions (id, UTC start), sorted by due time."""
    out: list[Due] = []
    usual = preferred or plan.default_time
    busy: set[date] = set()
    for session_id, at in sorted(sessions, key=lambda s: s[1]):
        local_day = at.astimezone(tz).date()
        for rule in plan.around_sessions:
            day = local_day + timedelta(days=rule.day)
            out.append(
                Due(rule.prompt_set, local_due(day, rule.at or usual, tz, plan), "session", session_id)
            )
            busy.add(day)
        busy.add(local_day)  # the session day itself
    if plan.weekly_set and sessions:
        days = sorted(at.astimezone(tz).date() for _, at in sessions)
        day, last = days[0] + timedelta(days=7), days[-1] + timedelta(weeks=plan.weeks_after_last)
        while day <= last:
            # Never two check-ins on one day: the questionnaire moves to the next free day.
            when = day
            while when in busy and when < day + timedelta(days=3):
                when += timedelta(days=1)
            out.append(Due(plan.weekly_set, local_due(when, usual, tz, plan), "weekly"))
            day += timedelta(days=7)
    return sorted(out, key=lambda d: (d.due_at, d.prompt_set))


def next_daily(now: datetime, tz: ZoneInfo, at: time, plan: Plan) -> datetime:
    """The next daily check-in at or after `now` (UTC), at local `at` (out of quiet hours)."""
    today = now.astimezone(tz).date()
    for offset in range(3):
        due = local_due(today + timedelta(days=offset), at, tz, plan)
        if due >= now:
            return due
    return local_due(today + timedelta(days=3), at, tz, plan)
