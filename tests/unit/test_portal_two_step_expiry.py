"""The portal app in-process (Starlette's TestClient) with an injected store clock: a
half-finished two-step sign-in expires after five minutes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from bot import totp
from bot.accounts import hash_password
from bot.config import load_settings
from bot.runtime import Store
from bot.store import migrate
from bot.web.app import create_app

PASSWORD = "a-long-enough-password"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_the_code_step_expires_and_a_late_code_signs_nobody_in(tmp_path):
    settings = load_settings({"INTERLUDE_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    migrate.upgrade(settings.database_url)
    clock = Clock()
    store = Store.open(settings.database_url, settings.data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    staff_id, _ = store.staff.ensure_staff(
        clinic, "t@c.invalid", "Theo", "therapist", hash_password(PASSWORD)
    )
    secret = store.staff_admin.totp_begin(staff_id)
    step = totp.step_of(clock.at.timestamp())
    assert store.staff_admin.totp_check(staff_id, totp.code_at(secret, step), enable=True)
    try:
        with TestClient(create_app(settings, store), follow_redirects=False) as client:

            def password_step() -> None:
                token = csrf_of(client.get("/portal/login").text)
                r = client.post(
                    "/portal/login", data={"csrf": token, "email": "t@c.invalid", "password": PASSWORD}
                )
                assert r.headers["location"] == "/portal/login/code"

            password_step()
            token = csrf_of(client.get("/portal/login/code").text)
            clock.at += timedelta(minutes=5, seconds=1)  # the code arrives too late
            late = totp.code_at(secret, totp.step_of(clock.at.timestamp()))
            r = client.post("/portal/login/code", data={"csrf": token, "code": late})
            assert r.status_code == 303 and r.headers["location"] == "/portal/login"
            assert client.get("/portal").headers["location"].startswith("/portal/login")  # not signed in
            # Within the five minutes, the same flow signs in.
            password_step()
            token = csrf_of(client.get("/portal/login/code").text)
            clock.at += timedelta(minutes=4)
            code = totp.code_at(secret, totp.step_of(clock.at.timestamp()))
            r = client.post("/portal/login/code", data={"csrf": token, "code": code})
            assert r.status_code == 303 and r.headers["location"] == "/portal"
            assert client.get("/portal").status_code == 200
    finally:
        store.core.close()
