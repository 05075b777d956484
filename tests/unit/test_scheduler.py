"""The check-in queue and its worker with an injected clock (no sleeping), on SQLite and
PostgreSQL, against a loopback look-alike of Rasa's trigger_intent endpoint."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.flags.handoff import RasaApi
from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.schedule.plan import default_plan
from bot.schedule.worker import Scheduler
from bot.store import migrate
from bot.store.errors import StoreError
from tests.peers.rasa_api import FakeRasa

PLAN = default_plan()
NY = ZoneInfo("America/New_York")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # Sunday 07:00 in New York


@pytest.fixture
def world(database_url, data_dir, clock):
    migrate.upgrade(database_url)
    store = Store.open(database_url, data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    staff, _ = store.staff.ensure_staff(clinic, "t@example.invalid", "Dr T", "therapist", None)
    with FakeRasa() as rasa:
        yield store, clinic, staff, rasa
    store.core.close()


def patient(store, clinic, staff, *, tz="America/New_York", telegram: str | None = "1001") -> str:
    ref = store.patients.create_patient(
        clinic_id=clinic, therapist_id=staff, display_name="P", timezone=tz
    ).ref
    if telegram:
        code = store.patients.issue_enrollment_code(ref, ttl=timedelta(days=1), actor="t", origin="t")
        store.patients.redeem_enrollment_code(code, "telegram", telegram)
    return ref


def scheduler(store: Store, rasa: FakeRasa, lease: timedelta = timedelta(minutes=2)) -> Scheduler:
    return Scheduler(store.schedule, PLAN, RasaApi(rasa.url, rasa.token, timeout=10), lease=lease)


def run_until(clock: Clock, sched: Scheduler, end: datetime, step: timedelta = timedelta(minutes=15)) -> None:
    while clock.at < end:
        asyncio.run(sched.tick())
        clock.at += step


def test_a_treatment_course_is_sent_on_time_in_the_patients_time_zone(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    for day in (2, 9, 16):  # three Monday sessions at 10:00 New York (across the DST change)
        local = datetime(2026, 3, day, 10, 0, tzinfo=NY)
        store.schedule.add_dosing_session(
            ref, local.astimezone(UTC), "sublingual", plan=PLAN, actor="t", origin="t"
        )
    planned = store.schedule.scheduled_checkins(ref)
    assert len(planned) == 16 and all(p.status == "pending" for p in planned)
    sched = scheduler(store, rasa)
    sent_at: list[tuple[str, str]] = []
    while clock.at < datetime(2026, 4, 1, tzinfo=UTC):
        before = len(rasa.calls)
        asyncio.run(sched.tick())
        for call in rasa.calls[before:]:
            if call["intent"] == "EXTERNAL_checkin_due":
                sent_at.append(
                    (call["entities"]["prompt_set"], clock.at.astimezone(NY).strftime("%m-%d %H:%M"))
                )
                # The patient answers each one at once, so none waits for another.
                store.checkins.record_checkin(ref, call["entities"]["prompt_set"], [("x", "ok", None)])
        clock.advance(minutes=15)
    assert sent_at[:4] == [
        ("preparation", "03-01 19:00"),
        ("day1", "03-03 18:00"),
        ("day3", "03-05 18:00"),
        ("preparation", "03-08 19:00"),  # the first evening of daylight-saving time: still 19:00 local
    ]
    assert len(sent_at) == 16
    assert {c["output_channel"] for c in rasa.calls} == {"telegram"}
    assert all(p.status == "completed" for p in store.schedule.scheduled_checkins(ref))


def test_quiet_hours_hold_a_late_check_in_until_morning(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    store.schedule.set_checkin_preferences(ref, at=time(20, 30), daily=True, plan=PLAN, origin="t")
    sched = scheduler(store, rasa)
    # The worker was down all evening and comes back at 23:00 New York time.
    clock.set(datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    asyncio.run(sched.tick())
    assert rasa.sent() == []
    held = next(p for p in store.schedule.scheduled_checkins(ref) if p.status == "pending")
    assert held.reason == "quiet_hours" and held.due_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00
    clock.set(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    asyncio.run(sched.tick())
    assert rasa.sent() == [(ref, "daily")]


def test_unanswered_gets_one_nudge_then_expires(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    store.schedule.add_dosing_session(
        ref, datetime(2026, 3, 5, 15, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
    )
    sched = scheduler(store, rasa)
    run_until(
        clock, sched, datetime(2026, 3, 6, 12, tzinfo=UTC)
    )  # preparation sent 03-04 19:00, never answered
    assert rasa.sent() == [(ref, "preparation")]
    assert rasa.sent("EXTERNAL_checkin_nudge") == [(ref, "preparation")]  # exactly one nudge
    prep = store.schedule.scheduled_checkins(ref)[0]
    assert (prep.prompt_set, prep.status, prep.reason) == ("preparation", "expired", "unanswered")


def test_paused_reminders_no_channel_and_open_flags(world, clock):
    store, clinic, staff, rasa = world
    paused = patient(store, clinic, staff, telegram="2001")
    lonely = patient(store, clinic, staff, telegram=None)
    flagged = patient(store, clinic, staff, telegram="2003")
    for ref in (paused, lonely, flagged):
        store.schedule.add_dosing_session(
            ref, datetime(2026, 3, 3, 15, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
        )
    store.patients.set_reminders_paused(paused, True, origin="telegram")
    result = store.flags.record_risk(
        flagged, message_id=None, text="x", signal=SignalInput("high", ["suicide"], [{"rule": "t"}])
    )
    sched = scheduler(store, rasa)
    run_until(clock, sched, datetime(2026, 3, 3, 6, tzinfo=UTC))
    assert rasa.sent() == []
    reasons = {ref: store.schedule.scheduled_checkins(ref)[0] for ref in (paused, lonely, flagged)}
    assert (reasons[paused].status, reasons[paused].reason) == ("skipped", "reminders_paused")
    assert (reasons[lonely].status, reasons[lonely].reason) == ("skipped", "no_channel")
    assert (reasons[flagged].status, reasons[flagged].reason) == ("pending", "risk_flag_open")
    store.flags.resolve_flag(result.flag_id, staff, origin="t")
    asyncio.run(sched.tick())
    assert rasa.sent() == []  # 01:00 in New York: it waits for the end of quiet hours
    clock.set(datetime(2026, 3, 3, 13, 0, tzinfo=UTC))  # 08:00
    asyncio.run(sched.tick())
    assert rasa.sent() == [(flagged, "preparation")]


def test_a_worker_that_dies_after_claiming_leaves_it_to_be_sent_exactly_once(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    store.schedule.add_dosing_session(
        ref, datetime(2026, 3, 3, 15, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
    )
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))  # 19:00 New York: preparation is due
    dead = store.schedule.claim_due_checkins(lease=timedelta(minutes=2))  # claimed, then the process died
    assert [j.prompt_set for j in dead] == ["preparation"]
    survivor = scheduler(store, rasa)
    asyncio.run(survivor.tick())
    assert rasa.sent() == []  # the dead worker's lease still holds it
    clock.advance(minutes=3)
    asyncio.run(survivor.tick())
    asyncio.run(survivor.tick())
    assert rasa.sent() == [(ref, "preparation")]
    assert (
        store.schedule.mark_checkin_sent(dead[0], "telegram") is False
    )  # a late zombie cannot claim it back


def test_rasa_down_means_retry_not_loss(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    store.schedule.add_dosing_session(
        ref, datetime(2026, 3, 3, 15, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
    )
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    rasa.fail_next = 2
    sched = scheduler(store, rasa)
    for _ in range(3):
        asyncio.run(sched.tick())
        clock.advance(minutes=1, seconds=1)
    assert rasa.sent() == [(ref, "preparation")]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_workers_on_postgres_never_send_the_same_check_in(world, clock, database_url, data_dir):
    store, clinic, staff, rasa = world
    refs = [patient(store, clinic, staff, telegram=str(3000 + i)) for i in range(30)]
    for ref in refs:
        store.schedule.set_checkin_preferences(ref, at=time(9, 0), daily=True, plan=PLAN, origin="t")
    clock.set(datetime(2026, 3, 1, 14, 5, tzinfo=UTC))  # 09:05 New York: thirty daily check-ins due
    other = Store.open(database_url, data_dir, environ={}, clock=clock)  # a second process's engine
    workers = [scheduler(store, rasa), scheduler(other, rasa)]
    barrier = threading.Barrier(2)

    def work(sched: Scheduler) -> None:
        barrier.wait()
        for _ in range(5):
            asyncio.run(sched.tick())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.core.close()
    sent = rasa.sent()
    assert sorted(sent) == sorted((ref, "daily") for ref in refs)  # each once, none twice


def test_bad_sessions_are_refused_and_change_nothing(world, clock):
    store, clinic, staff, _ = world
    ref = patient(store, clinic, staff)
    with pytest.raises(StoreError, match="in the past"):
        store.schedule.add_dosing_session(
            ref, clock.at - timedelta(hours=1), "iv", plan=PLAN, actor="t", origin="t"
        )
    first = store.schedule.add_dosing_session(
        ref, datetime(2026, 3, 10, 15, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
    )
    before = store.schedule.scheduled_checkins(ref)
    with pytest.raises(StoreError, match="overlaps another session"):
        store.schedule.add_dosing_session(
            ref, datetime(2026, 3, 10, 20, tzinfo=UTC), "iv", plan=PLAN, actor="t", origin="t"
        )
    with pytest.raises(StoreError, match="Unknown route"):
        store.schedule.add_dosing_session(
            ref, datetime(2026, 3, 20, 15, tzinfo=UTC), "oral", plan=PLAN, actor="t", origin="t"
        )
    assert store.schedule.scheduled_checkins(ref) == before
    # Moving the session moves its check-ins.
    store.schedule.move_dosing_session(
        first, datetime(2026, 3, 12, 15, tzinfo=UTC), plan=PLAN, actor="t", origin="t"
    )
    day1 = next(p for p in store.schedule.scheduled_checkins(ref) if p.prompt_set == "day1")
    assert day1.due_at == datetime(2026, 3, 13, 22, 0, tzinfo=UTC)  # 18:00 EDT on the day after
    store.schedule.cancel_dosing_session(first, plan=PLAN, actor="t", origin="t")
    assert store.schedule.scheduled_checkins(ref) == []


def test_the_patients_own_controls(world, clock):
    store, clinic, staff, rasa = world
    ref = patient(store, clinic, staff)
    store.schedule.set_checkin_preferences(ref, at=time(9, 0), daily=True, plan=PLAN, origin="t")
    sched = scheduler(store, rasa)
    clock.set(datetime(2026, 3, 1, 14, 0, tzinfo=UTC))  # 09:00 New York
    asyncio.run(sched.tick())
    assert rasa.sent() == [(ref, "daily")]
    # "remind me in an hour"
    assert store.schedule.postpone_outstanding(ref, timedelta(hours=1), origin="webchat") == 1
    clock.advance(minutes=59)
    asyncio.run(sched.tick())
    assert len(rasa.sent()) == 1
    clock.advance(minutes=2)
    asyncio.run(sched.tick())
    assert len(rasa.sent()) == 2
    assert store.schedule.skip_today(ref, origin="webchat") == 1  # "not today"
    asyncio.run(sched.tick())  # the worker's next look plans tomorrow's
    assert len(rasa.sent()) == 2
    clock.set(datetime(2026, 3, 2, 14, 1, tzinfo=UTC))  # tomorrow: the daily one comes again
    asyncio.run(sched.tick())
    asyncio.run(sched.tick())
    assert len(rasa.sent()) == 3
