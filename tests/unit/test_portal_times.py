"""Today and the flag page, in-process with an injected store clock: times in the patient's own
time zone with the zone named (as on the timeline), and an overdue flag said in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from bot.accounts import hash_password
from bot.config import load_settings
from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.store import migrate
from bot.web.app import create_app

PASSWORD = "a-long-enough-password"
OVERDUE = "overdue: not acknowledged in time"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)  # 09:00 in New York (EST)

    def __call__(self) -> datetime:
        return self.at


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_today_and_the_flag_page_use_the_patients_zone_and_say_overdue(tmp_path):
    settings = load_settings({"INTERLUDE_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    migrate.upgrade(settings.database_url)
    clock = Clock()
    store = Store.open(settings.database_url, settings.data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    staff_id, _ = store.staff.ensure_staff(
        clinic, "t@c.invalid", "Theo", "therapist", hash_password(PASSWORD)
    )
    ref = store.patients.create_patient(
        clinic_id=clinic, therapist_id=staff_id, display_name="Nia Synthetic", timezone="America/New_York"
    ).ref
    flag = store.flags.record_risk(
        ref,
        message_id=None,
        text="I keep thinking about ending my life",
        signal=SignalInput(severity="high", categories=["suicide"], rules=[]),
        alert_channels=["portal"],
        deadlines={"high": timedelta(minutes=5)},
    )
    try:
        with TestClient(create_app(settings, store), follow_redirects=False) as client:
            token = csrf_of(client.get("/portal/login").text)
            form = {"csrf": token, "email": "t@c.invalid", "password": PASSWORD}
            r = client.post("/portal/login", data=form)
            assert r.status_code == 303

            today = text_of(client.get("/portal").text)
            page = text_of(client.get(f"/portal/flags/{flag.flag_id}").text)
            for shown in (today, page):
                # Raised 09:00 and due 09:05 New York time, with the zone named; not 14:05 UTC.
                assert "Thu 15 Jan 2026, 09:05 EST" in shown and "14:05" not in shown
                assert OVERDUE not in shown
            assert "Thu 15 Jan 2026, 09:00 EST" in today and "America/New_York" in page

            clock.at += timedelta(minutes=6)  # past the deadline, nobody acknowledged it
            assert OVERDUE in text_of(client.get("/portal").text)
            assert OVERDUE in text_of(client.get(f"/portal/flags/{flag.flag_id}").text)

            store.flags.acknowledge_flag(flag.flag_id, staff_id, origin="test")
            assert OVERDUE not in text_of(client.get("/portal").text)
            assert OVERDUE not in text_of(client.get(f"/portal/flags/{flag.flag_id}").text)
    finally:
        store.core.close()
