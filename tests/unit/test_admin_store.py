"""Clinic administration in the store: staff accounts, the audit log, second factors; and the
timeline's missed check-ins. On SQLite and PostgreSQL, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import totp
from bot.accounts import hash_password
from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.schedule.plan import default_plan
from bot.store import crypto, migrate
from bot.store.errors import NotFound, StoreError

PASSWORD = "a-long-enough-password"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def world(database_url, data_dir):
    migrate.upgrade(database_url)
    clock = Clock()
    store = Store.open(database_url, data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    admin, _ = store.staff.ensure_staff(
        clinic, "admin@c.invalid", "Ada Admin", "admin", hash_password(PASSWORD)
    )
    therapist, _ = store.staff.ensure_staff(
        clinic, "t@c.invalid", "Theo", "therapist", hash_password(PASSWORD)
    )
    far_clinic = store.staff.ensure_clinic("far", "Far Clinic")
    far_admin, _ = store.staff.ensure_staff(
        far_clinic, "admin@far.invalid", "Far", "admin", hash_password(PASSWORD)
    )
    yield store, clock, admin, therapist, far_admin
    store.core.close()


def test_an_admin_adds_staff_and_bad_input_creates_nothing(world):
    store, _, admin, therapist, _ = world
    new_id = store.staff_admin.add_staff(
        admin, email=" New@C.invalid ", name="Nia New", role="therapist", password=PASSWORD
    )
    assert store.portal.authenticate("new@c.invalid", PASSWORD).id == new_id
    before = len(store.staff_admin.staff_list(admin))
    for kwargs, message in [
        ({"email": "nope"}, "valid e-mail"),
        ({"name": "  "}, "Give a name"),
        ({"role": "owner"}, "therapist or admin"),
        ({"password": "short"}, "at least 12"),
        ({"email": "new@c.invalid"}, "already exists"),
    ]:
        values = {"email": "x@c.invalid", "name": "X", "role": "therapist", "password": PASSWORD, **kwargs}
        with pytest.raises(StoreError, match=message):
            store.staff_admin.add_staff(admin, **values)
    assert len(store.staff_admin.staff_list(admin)) == before
    with pytest.raises(NotFound):  # a therapist is not an admin
        store.staff_admin.add_staff(
            therapist, email="y@c.invalid", name="Y", role="therapist", password=PASSWORD
        )


def test_disabling_an_account_stops_sign_in_and_an_admin_cannot_lock_themselves_out(world):
    store, _, admin, therapist, far_admin = world
    store.staff_admin.update_staff(admin, therapist, disabled=True)
    assert store.portal.authenticate("t@c.invalid", PASSWORD) is None
    assert store.portal.staff_view(therapist) is None  # open portal sessions end at their next request
    store.staff_admin.update_staff(admin, therapist, disabled=False)
    assert store.portal.authenticate("t@c.invalid", PASSWORD) is not None
    with pytest.raises(StoreError, match="own account"):
        store.staff_admin.update_staff(admin, admin, disabled=True)
    with pytest.raises(StoreError, match="own role"):
        store.staff_admin.update_staff(admin, admin, role="therapist")
    with pytest.raises(StoreError, match="Telegram user id is a number"):
        store.staff_admin.update_staff(admin, therapist, telegram_user_id="@theo")
    store.staff_admin.update_staff(admin, therapist, telegram_user_id="123456789", role="admin")
    row = next(r for r in store.staff_admin.staff_list(admin) if r.id == therapist)
    assert row.telegram_user_id == "123456789" and row.role == "admin"
    with pytest.raises(NotFound):  # another clinic's admin cannot touch this clinic's staff
        store.staff_admin.update_staff(far_admin, therapist, disabled=True)
    assert store.portal.authenticate("t@c.invalid", PASSWORD) is not None


def test_the_audit_log_shows_this_clinics_events_only_filtered_and_is_itself_audited(world):
    store, _, admin, therapist, far_admin = world
    mine = store.patients.create_patient(clinic_id=1, therapist_id=therapist, display_name="Mine").ref
    far_therapist, _ = store.staff.ensure_staff(2, "ft@far.invalid", "FT", "therapist", None)
    far = store.patients.create_patient(clinic_id=2, therapist_id=far_therapist, display_name="Far").ref
    store.patient_views.patient_overview(therapist, mine)
    store.patient_views.patient_overview(far_admin, far)
    rows = store.staff_admin.audit_log(admin)
    assert any(r.patient_ref == mine and r.action == "read.timeline" for r in rows)
    assert not any(r.patient_ref == far or r.actor == f"staff:{far_admin}" for r in rows)
    only_reads = store.staff_admin.audit_log(admin, action="read.", actor_id=therapist)
    assert only_reads and all(
        r.action.startswith("read.") and r.actor == f"staff:{therapist}" for r in only_reads
    )
    assert store.staff_admin.audit_log(admin, patient=far) == []
    with pytest.raises(StoreError, match="prefix"):
        store.staff_admin.audit_log(admin, action="read%' OR 1=1 --")
    with pytest.raises(StoreError, match="your clinic"):
        store.staff_admin.audit_log(admin, actor_id=far_admin)
    with pytest.raises(NotFound):
        store.staff_admin.audit_log(therapist)
    newest = store.staff_admin.audit_log(admin, limit=1)[0]
    assert newest.action == "read.audit_log" and newest.actor == f"staff:{admin}"
    older = store.staff_admin.audit_log(admin, before=newest.id, limit=500)
    assert all(r.id < newest.id for r in older)


def test_two_step_sign_in_set_up_used_once_turned_off_and_reset(world, data_dir):
    store, clock, admin, therapist, _ = world
    secret = store.staff_admin.totp_begin(therapist)
    assert store.staff_admin.totp_pending_secret(therapist) == secret
    assert store.portal.authenticate("t@c.invalid", PASSWORD).totp is False  # not on until confirmed
    now = clock.at.timestamp()
    valid = {totp.code_at(secret, totp.step_of(now) + d) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    assert not store.staff_admin.totp_check(therapist, wrong, enable=True)
    assert store.staff_admin.totp_check(therapist, totp.code_at(secret, totp.step_of(now)), enable=True)
    assert store.portal.authenticate("t@c.invalid", PASSWORD).totp is True
    with pytest.raises(StoreError, match="already on"):
        store.staff_admin.totp_begin(therapist)
    clock.at += timedelta(seconds=30)
    code = totp.code_at(secret, totp.step_of(clock.at.timestamp()))
    assert store.staff_admin.totp_check(therapist, code)
    assert not store.staff_admin.totp_check(therapist, code)  # the same code again: refused
    # The secret is encrypted under the master key, and survives a key rotation.
    old_keys, new_key = crypto.load_master_keys(data_dir, {}, create=False), crypto.Keyring.new_data_key()
    store.vault.rewrap_all(crypto.Keyring([new_key, *old_keys]), actor="t")
    store.vault.rewrap_all(
        crypto.Keyring([new_key]), actor="t"
    )  # the old key retired: all must open with the new
    clock.at += timedelta(seconds=30)
    assert not store.staff_admin.totp_disable(therapist, "12345")
    assert store.staff_admin.totp_disable(therapist, totp.code_at(secret, totp.step_of(clock.at.timestamp())))
    assert store.portal.authenticate("t@c.invalid", PASSWORD).totp is False
    # An admin resets a lost device.
    secret = store.staff_admin.totp_begin(therapist)
    clock.at += timedelta(seconds=30)
    assert store.staff_admin.totp_check(
        therapist, totp.code_at(secret, totp.step_of(clock.at.timestamp())), enable=True
    )
    store.staff_admin.update_staff(admin, therapist, reset_totp=True)
    assert store.portal.authenticate("t@c.invalid", PASSWORD).totp is False
    actions = [e["action"] for e in store.core.audit_events()]
    assert "totp.enabled" in actions and "totp.disabled" in actions and "totp.failed" in actions


def test_missed_check_ins_show_on_the_timeline(world):
    store, clock, _, therapist, _ = world
    ref = store.patients.create_patient(clinic_id=1, therapist_id=therapist, display_name="P").ref
    store.schedule.add_dosing_session(
        ref, clock.at + timedelta(days=1), "sublingual", plan=default_plan(), actor="t", origin="t"
    )
    clock.at += timedelta(days=4)  # the evening-before and day-1 check-ins were never sent nor answered
    _, expired = store.schedule.close_answered_and_expired(default_plan())
    assert expired >= 2
    overview = store.patient_views.patient_overview(therapist, ref)
    missed = [m for period in overview["periods"] for m in period["missed"]]
    assert {m["prompt_set"] for m in missed} >= {"preparation", "day1"}
    assert all(m["reason"] == "never_sent" for m in missed)
    today = store.portal.today_for(therapist, since=clock.at - timedelta(days=5))
    assert {m["prompt_set"] for m in today.missed} >= {"preparation", "day1"}
    assert all(m["ref"] == ref for m in today.missed)
    assert store.portal.today_for(therapist, since=clock.at + timedelta(minutes=1)).missed == []


def test_flag_notes_show_on_the_timeline_decrypted(world):
    store, _, _, therapist, _ = world
    ref = store.patients.create_patient(clinic_id=1, therapist_id=therapist, display_name="P").ref
    flag = store.flags.record_risk(
        ref, message_id=None, text="x", signal=SignalInput("high", ["suicide"], [{"rule": "t"}])
    ).flag_id
    store.portal.add_flag_note(therapist, flag, "Called; safe tonight, plan agreed.")
    overview = store.patient_views.patient_overview(therapist, ref)
    assert [n["text"] for n in overview["flag_notes"][flag]] == ["Called; safe tonight, plan agreed."]
    assert overview["flag_notes"][flag][0]["by"] == "Theo"


def test_changing_ones_password_needs_the_current_one(world):
    store, _, _, therapist, _ = world
    with pytest.raises(StoreError, match="not right"):
        store.staff_admin.change_password(therapist, "wrong-password-here", "a-brand-new-password")
    with pytest.raises(StoreError, match="at least 12"):
        store.staff_admin.change_password(therapist, PASSWORD, "short")
    with pytest.raises(StoreError, match="differ"):
        store.staff_admin.change_password(therapist, PASSWORD, PASSWORD)
    assert store.portal.authenticate("t@c.invalid", PASSWORD) is not None  # nothing changed yet
    store.staff_admin.change_password(therapist, PASSWORD, "a-brand-new-password")
    assert store.portal.authenticate("t@c.invalid", PASSWORD) is None
    assert store.portal.authenticate("t@c.invalid", "a-brand-new-password") is not None
    actions = [e["action"] for e in store.core.audit_events()]
    assert "password.change" in actions and "password.change_failed" in actions


def test_an_admin_reassigns_a_patient_within_the_clinic_only(world):
    store, _, admin, therapist, far_admin = world
    other, _ = store.staff.ensure_staff(1, "o@c.invalid", "Olga", "therapist", None)
    ref = store.patients.create_patient(clinic_id=1, therapist_id=therapist, display_name="P").ref
    store.staff_admin.reassign_patient(admin, ref, other)
    assert store.portal.can_see_patient(other, ref) and not store.portal.can_see_patient(therapist, ref)
    store.staff_admin.update_staff(admin, therapist, disabled=True)
    with pytest.raises(StoreError, match="disabled"):
        store.staff_admin.reassign_patient(admin, ref, therapist)
    far_staff, _ = store.staff.ensure_staff(2, "f@far.invalid", "F", "therapist", None)
    with pytest.raises(NotFound):
        store.staff_admin.reassign_patient(admin, ref, far_staff)  # not this clinic's staff
    with pytest.raises(NotFound):
        store.staff_admin.reassign_patient(far_admin, ref, far_staff)  # not that admin's patient
    with pytest.raises(NotFound):
        store.staff_admin.reassign_patient(other, ref, other)  # therapists do not reassign
    assert store.portal.can_see_patient(other, ref)
    assert [e["action"] for e in store.core.audit_events(patient_ref=ref)].count("patient.reassign") == 1


def test_today_leaves_out_a_deleted_patient_instead_of_failing(world):
    store, clock, _, therapist, _ = world
    ref = store.patients.create_patient(clinic_id=1, therapist_id=therapist, display_name="Gone").ref
    store.checkins.record_checkin(ref, "daily", [("mood", None, 5.0)])
    flag = store.flags.record_risk(
        ref, message_id=None, text="x", signal=SignalInput("high", ["suicide"], [{"rule": "t"}])
    ).flag_id
    store.rights.delete_patient(ref, actor="t", origin="t")
    today = store.portal.today_for(therapist, since=clock.at - timedelta(days=1))
    assert today.completed == [] and today.flags == []
    # An old alert's link to the flag is a plain "not found", not a failure to decrypt.
    with pytest.raises(NotFound):
        store.portal.flag_detail(therapist, flag)
    with pytest.raises(NotFound):
        store.portal.flag_patient_ref(therapist, flag)
