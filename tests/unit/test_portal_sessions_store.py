"""Server-side portal sessions in the store (SQLite and PostgreSQL): only a hash of the id is
kept, idle and absolute timeouts, and every way a session ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.accounts import hash_password
from bot.runtime import Store
from bot.staff.sessions import IDLE_SECONDS, MAX_AGE_SECONDS, session_hash
from bot.store import migrate
from bot.store.errors import NotFound

PASSWORD = "a-long-enough-password"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def setup(database_url, data_dir):
    migrate.upgrade(database_url)
    clock = Clock()
    store = Store.open(database_url, data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    admin, _ = store.staff.ensure_staff(clinic, "a@c.invalid", "Ada", "admin", hash_password(PASSWORD))
    staff, _ = store.staff.ensure_staff(clinic, "t@c.invalid", "Theo", "therapist", hash_password(PASSWORD))
    other = store.staff.ensure_clinic("o", "Other")
    outsider, _ = store.staff.ensure_staff(other, "x@o.invalid", "Xan", "therapist", hash_password(PASSWORD))
    yield store, clock, admin, staff, outsider
    store.core.close()


def signed_in(store: Store, staff_id: int, agent: str = "Firefox") -> str:
    return store.portal_sessions.session_create({"staff_id": staff_id, "csrf": "c"}, user_agent=agent)


def test_only_the_hash_is_stored_and_timeouts_end_sessions(setup):
    store, clock, _, staff, _ = setup
    sid = signed_in(store, staff)
    with store.core.factory() as s:  # the raw table, on purpose
        keys = [row[0] for row in s.execute(text("SELECT id_hash FROM portal_sessions"))]
    assert keys == [session_hash(sid)] and sid not in keys
    assert store.portal_sessions.session_load(sid).staff_id == staff
    assert store.portal_sessions.session_load("not-a-session") is None
    # Idle: each save counts as activity; past IDLE_SECONDS without one, it is gone.
    clock.at += timedelta(seconds=IDLE_SECONDS - 5)
    assert store.portal_sessions.session_save(sid, {"staff_id": staff, "csrf": "c", "n": 1})
    clock.at += timedelta(seconds=IDLE_SECONDS - 5)
    assert store.portal_sessions.session_load(sid).data["n"] == 1
    clock.at += timedelta(seconds=IDLE_SECONDS + 1)
    assert store.portal_sessions.session_load(sid) is None
    assert not store.portal_sessions.session_save(sid, {"staff_id": staff})  # an ended session stays ended
    # Absolute: however active, it ends after MAX_AGE_SECONDS.
    sid = signed_in(store, staff)
    start = clock.at
    while clock.at - start < timedelta(seconds=MAX_AGE_SECONDS):
        clock.at += timedelta(seconds=IDLE_SECONDS - 60)
        store.portal_sessions.session_save(sid, {"staff_id": staff})
    assert store.portal_sessions.session_load(sid) is None


def test_sign_out_password_change_disable_and_admin_end_sessions(setup):
    store, _, admin, staff, outsider = setup
    laptop, phone, stolen = (signed_in(store, staff, a) for a in ("Laptop", "Phone", "Stolen"))
    listed = store.portal_sessions.sessions_of(staff, laptop)
    assert {s.user_agent for s in listed} == {"Laptop", "Phone", "Stolen"}
    assert [s.user_agent for s in listed if s.current] == ["Laptop"]

    store.portal_sessions.session_delete(stolen)  # sign-out
    assert (
        store.portal_sessions.session_load(stolen) is None
        and store.portal_sessions.session_load(phone) is not None
    )

    store.staff_admin.change_password(staff, PASSWORD, "a-new-long-password-2", keep_session=laptop)
    assert (
        store.portal_sessions.session_load(phone) is None
        and store.portal_sessions.session_load(laptop) is not None
    )

    assert store.portal_sessions.end_sessions(staff, reason="sign_out_everywhere") == 1
    assert (
        store.portal_sessions.session_load(laptop) is None and store.portal_sessions.sessions_of(staff) == []
    )

    again = signed_in(store, staff)
    assert store.staff_admin.end_staff_sessions(admin, staff) == 1
    assert store.portal_sessions.session_load(again) is None
    with pytest.raises(NotFound):  # another clinic's person
        store.staff_admin.end_staff_sessions(admin, outsider)
    with pytest.raises(NotFound):  # a therapist is not an admin
        store.staff_admin.end_staff_sessions(staff, admin)

    again = signed_in(store, staff)
    store.staff_admin.update_staff(admin, staff, disabled=True)
    assert store.portal_sessions.session_load(again) is None
    actions = [row.action for row in store.staff_admin.audit_log(admin, action="sessions.end")]
    assert len(actions) == 2
