"""The check-in planner: a whole treatment course, daylight-saving weeks, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.plan import (
    PlanError,
    default_plan,
    load_plan,
    local_due,
    next_daily,
    parse_hhmm,
    plan_for_sessions,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def local(d):
    return (d.prompt_set, d.due_at.astimezone(NY).strftime("%a %m-%d %H:%M"))


def test_a_full_course_of_three_weekly_sessions():
    plan = default_plan()
    sessions = [
        (1, datetime(2026, 3, 2, 15, 0, tzinfo=UTC)),  # Mon 10:00 New York
        (2, datetime(2026, 3, 9, 14, 0, tzinfo=UTC)),  # Mon 10:00 (after the change to EDT)
        (3, datetime(2026, 3, 16, 14, 0, tzinfo=UTC)),
    ]
    dues = plan_for_sessions(sessions, NY, plan)
    assert [local(d) for d in dues] == [
        ("preparation", "Sun 03-01 19:00"),  # the evening before
        ("day1", "Tue 03-03 18:00"),
        ("day3", "Thu 03-05 18:00"),
        ("preparation", "Sun 03-08 19:00"),
        ("day7", "Mon 03-09 18:00"),  # session 1's day 7 is session 2's evening
        ("day1", "Tue 03-10 18:00"),
        ("phq9", "Wed 03-11 18:00"),  # week 1: moved off Mon (session) and Tue (day 1)
        ("day3", "Thu 03-12 18:00"),
        ("preparation", "Sun 03-15 19:00"),
        ("day7", "Mon 03-16 18:00"),
        ("day1", "Tue 03-17 18:00"),
        ("phq9", "Wed 03-18 18:00"),
        ("day3", "Thu 03-19 18:00"),
        ("day7", "Mon 03-23 18:00"),
        ("phq9", "Tue 03-24 18:00"),
        ("phq9", "Mon 03-30 18:00"),  # two weeks after the last session
    ]
    # Sorted by instant, and every due time is UTC-aware.
    assert [d.due_at for d in dues] == sorted(d.due_at for d in dues)
    assert all(d.due_at.tzinfo is UTC for d in dues)
    kinds = {(d.prompt_set, d.kind) for d in dues}
    assert ("phq9", "weekly") in kinds and ("day1", "session") in kinds
    assert sum(d.prompt_set == "day1" for d in dues) == 3
    # Weekly questionnaires: from one week after the first session to two weeks after the last.
    weekly = [d.due_at.astimezone(NY).date().isoformat() for d in dues if d.kind == "weekly"]
    assert weekly == ["2026-03-11", "2026-03-18", "2026-03-24", "2026-03-30"]
    # Never two check-ins on one local day.
    days = [d.due_at.astimezone(NY).date() for d in dues]
    assert len(days) == len(set(days))


def test_the_spring_forward_week_keeps_local_wall_time():
    # New York moves from EST (-5) to EDT (-4) on Sunday 2026-03-08 at 02:00.
    plan = default_plan()
    dues = plan_for_sessions([(1, datetime(2026, 3, 6, 15, 0, tzinfo=UTC))], NY, plan)
    day1, day3 = (d for d in dues if d.prompt_set in ("day1", "day3"))
    assert day1.due_at == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)  # Sat 18:00 EST
    assert day3.due_at == datetime(2026, 3, 9, 22, 0, tzinfo=UTC)  # Mon 18:00 EDT: an hour earlier in UTC
    assert {d.due_at.astimezone(NY).strftime("%H:%M") for d in dues if d.prompt_set != "preparation"} == {
        "18:00"
    }


def test_the_fall_back_week_and_wall_times_that_do_not_exist_or_repeat():
    plan = load_plan()
    plan = plan.__class__(
        **{**plan.__dict__, "quiet_start": time(0, 0), "quiet_end": time(0, 0)}
    )  # no quiet hours
    # 2026-11-01 01:30 happens twice in New York: the first (EDT) is used.
    assert local_due(datetime(2026, 11, 1).date(), time(1, 30), NY, plan) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    # 2026-03-08 02:30 does not exist: it lands just after the change, at 03:30 EDT.
    gap = local_due(datetime(2026, 3, 8).date(), time(2, 30), NY, plan)
    assert gap.astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"
    # Europe/London's autumn change: 18:00 local before and after, one hour apart in UTC.
    before = local_due(datetime(2026, 10, 24).date(), time(18), LONDON, plan)
    after = local_due(datetime(2026, 10, 26).date(), time(18), LONDON, plan)
    assert (before.hour, after.hour) == (17, 18)


def test_quiet_hours_and_the_patients_preferred_time():
    plan = default_plan()
    day = datetime(2026, 5, 4).date()
    assert local_due(day, time(22, 30), NY, plan).astimezone(NY) == datetime(2026, 5, 5, 8, 0, tzinfo=NY)
    assert local_due(day, time(6, 0), NY, plan).astimezone(NY) == datetime(2026, 5, 4, 8, 0, tzinfo=NY)
    assert local_due(day, time(20, 59), NY, plan).astimezone(NY) == datetime(2026, 5, 4, 20, 59, tzinfo=NY)
    dues = plan_for_sessions([(1, datetime(2026, 5, 4, 14, tzinfo=UTC))], NY, plan, preferred=time(8, 15))
    assert {d.due_at.astimezone(NY).strftime("%H:%M") for d in dues if d.prompt_set != "preparation"} == {
        "08:15"
    }
    now = datetime(2026, 5, 4, 23, 0, tzinfo=UTC)  # 19:00 in New York
    assert next_daily(now, NY, time(20, 0), plan) == datetime(2026, 5, 5, 0, 0, tzinfo=UTC)
    assert next_daily(now, NY, time(9, 0), plan).astimezone(NY) == datetime(2026, 5, 5, 9, 0, tzinfo=NY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8pm", time(20)),
        ("8:30 am", time(8, 30)),
        ("20:00", time(20)),
        ("12am", time(0)),
        ("12pm", time(12)),
        ("7", time(7)),
    ],
)
def test_times_of_day_are_read_as_people_write_them(text, expected):
    assert parse_hhmm(text, "x") == expected


@pytest.mark.parametrize("text", ["25:00", "13pm", "noonish", "8:75"])
def test_bad_times_of_day_are_refused(text):
    with pytest.raises(PlanError, match="time of day"):
        parse_hhmm(text, "x")


def test_a_broken_plan_file_names_the_problem(tmp_path):
    bad = tmp_path / "schedule.yml"
    bad.write_text("around_sessions:\n  - {prompt_set: nope, day: 1}\n")
    with pytest.raises(PlanError, match="unknown prompt set 'nope'"):
        load_plan(bad, {"day1"})
    bad.write_text("nudge_after: 2d\nexpire_after: 1d\n")
    with pytest.raises(PlanError, match="shorter than expire_after"):
        load_plan(bad)
    bad.write_text("default_time: teatime\n")
    with pytest.raises(PlanError, match="default_time"):
        load_plan(bad)
    assert timedelta(hours=4) == default_plan().nudge_after


def test_start_up_refuses_a_plan_that_names_a_missing_prompt_set(tmp_path, monkeypatch):
    """The plan no longer loads the prompt sets itself (the schedule does not import the prompts
    package); the start-up check, which sees both, still refuses an unknown set in one sentence."""
    from bot import app
    from bot.config import ConfigError
    from bot.schedule import plan as plan_module

    text = plan_module.PLAN_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "schedule.yml"
    bad.write_text(text.replace("prompt_set: day1", "prompt_set: nope", 1), encoding="utf-8")
    assert bad.read_text(encoding="utf-8") != text
    monkeypatch.setattr(plan_module, "PLAN_FILE", bad)
    with pytest.raises(ConfigError, match="unknown prompt set 'nope'"):
        app.check_safety_config()
