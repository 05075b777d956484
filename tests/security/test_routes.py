"""Every route of the web app, taken from the Starlette app's own route table (a new route is
covered without editing this file): signed out, another therapist's ids, forms without or with
a forged CSRF token, oversized and malformed bodies. Also the public landing page and header
injection through export file names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route

from bot.config import PROJECT_ROOT
from bot.store.models import Base
from tests.security.conftest import csrf_of

#: Routes anyone may reach. Any other route must need a signed-in clinician.
PUBLIC = {
    "/",
    "/healthz",
    "/favicon.ico",
    "/chat",
    "/widget/{name:path}",
    "/socket.io{rest:path}",
    "/telegram/webhook{rest:path}",
    "/portal/login",
    "/portal/login/code",
}
#: Path parameters that name something belonging to a therapist (substituted with theirs).
OWNED = {"ref", "flag_id", "session_id", "target"}


def routes(web) -> list[tuple[str, str, list[str]]]:
    """(path template, method, parameter names) for every route and method."""
    found = []
    for r in web.app.routes:
        if isinstance(r, Mount):
            continue
        assert isinstance(r, Route), r
        for method in sorted((r.methods or {"GET"}) - {"HEAD"}):
            found.append((r.path, method, list(r.param_convertors)))
    return found


def fill(web, template: str, who: str) -> str:
    values = {
        "ref": web.patients[who],
        "flag_id": web.flags[who],
        "session_id": web.sessions[who],
        "target": web.staff[who],
        "action": "ack",
        "name": "interlude-widget.js",
        "rest": "/",
    }

    def one(m: re.Match) -> str:
        name = m.group(1).split(":")[0]
        return quote(str(values.get(name, "1")), safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def protected(web):
    return [(t, m, p) for t, m, p in routes(web) if t not in PUBLIC]


def portal_posts(web):
    return [(t, m, p) for t, m, p in routes(web) if m == "POST" and t.startswith("/portal")]


def counts(web) -> dict[str, int]:
    """Rows in every table but the audit log and the sessions (reads and refusals may add to those)."""
    skip = {"audit_events", "portal_sessions", "alembic_version"}
    with web.store.core.factory() as s:
        return {
            t.name: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in Base.metadata.sorted_tables
            if t.name not in skip
        }


def test_the_route_table_is_enumerated(web):
    templates = {t for t, _, _ in routes(web)}
    assert len(templates) > 25 and "/portal/patients/{ref}" in templates
    assert PUBLIC <= templates | {"/portal/login/code"}


def test_signed_out_every_protected_route_redirects_to_sign_in_or_refuses(web):
    c = web.client()
    for template, method, _ in protected(web):
        path = fill(web, template, "mine")
        r = c.request(method, path, data={"csrf": "x"} if method == "POST" else None)
        if r.status_code == 303:
            assert r.headers["location"].startswith("/portal"), (method, path, r.headers["location"])
            if template != "/portal/":
                assert r.headers["location"].startswith("/portal/login"), (method, path)
        else:
            assert r.status_code in (401, 403, 404), (method, path, r.status_code)
        assert "Secret-" not in r.text, (method, path)


def test_another_therapists_ids_are_a_404_on_every_route(web):
    c = web.sign_in("mine")
    token = csrf_of(c.get("/portal/account").text)
    before = counts(web)
    checked = 0
    for template, method, params in routes(web):
        if not OWNED & set(params):
            continue
        path = fill(web, template, "theirs")
        r = c.request(method, path, data={"csrf": token} if method == "POST" else None)
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert "Secret-theirs" not in r.text and "Secret-theirs" not in r.headers.get(
            "content-disposition", ""
        )
        checked += 1
    assert checked >= 10
    assert counts(web) == before  # nothing of theirs was changed


@pytest.mark.parametrize("forged", [None, "", "forged-token", "A" * 32])
def test_every_form_without_a_valid_csrf_token_is_refused(web, forged):
    c = web.sign_in("admin")  # an admin reaches every form, so the refusal is the CSRF check's
    before = counts(web)
    for template, _method, _ in portal_posts(web):
        path = fill(web, template, "mine")
        data = {"action": "ack", "text": "x"} | ({} if forged is None else {"csrf": forged})
        r = c.post(path, data=data)
        if template == "/portal/login/code":  # no password step in this session: back to sign-in
            assert r.status_code == 303 and r.headers["location"] == "/portal/login", path
            continue
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
    assert counts(web) == before
    assert c.get("/portal/patients").status_code == 200  # the forged sign-out did not sign out


def test_oversized_and_malformed_bodies_are_refused_and_store_nothing(web):
    c = web.sign_in("admin")
    token = csrf_of(c.get("/portal/account").text)
    before = counts(web)
    big = {"csrf": token, "text": "x" * 70_000, "name": "Big", "email": "big@sec.example.invalid"}

    def chunked():
        yield f"csrf={token}&name=Chunked&text=".encode()
        for _ in range(100):
            yield b"y" * 1024

    for template, _, _ in portal_posts(web):
        if template == "/portal/login/code":
            continue
        path = fill(web, template, "mine")
        assert c.post(path, data=big).status_code == 413, path
        r = c.post(path, content=chunked(), headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 413, (path, r.status_code)
        r = c.post(path, content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
        many = {"csrf": token, **{f"f{i}": "v" for i in range(40)}}
        assert 400 <= c.post(path, data=many).status_code < 500, path
        r = c.post(path, content=b"\xff\xfe\x00{", headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (path, r.status_code)
    assert counts(web) == before
    assert c.get("/portal/patients").status_code == 200


def test_export_file_names_cannot_inject_headers(web):
    clinic = web.store.staff.ensure_clinic("sec", "Security Clinic")
    ref = 'pt_"q\r\nX-Evil: 1;'
    web.store.patients.create_patient(
        clinic_id=clinic, therapist_id=web.staff["mine"], display_name='Name"\r\nX-Evil: 2', ref=ref
    )
    c = web.sign_in("mine")
    for export in ("entries.csv", "questionnaires.fhir.json", "session-prep.pdf"):
        r = c.get(f"/portal/patients/{quote(ref, safe='')}/{export}")
        assert r.status_code == 200, (export, r.status_code)
        assert "x-evil" not in r.headers
        disposition = r.headers["content-disposition"]
        assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+"', disposition), disposition


def test_the_landing_page_shows_nothing_internal(web):
    r = web.client().get("/")
    assert r.status_code == 200 and "/portal" in r.text
    s = web.settings
    for secret in (
        str(s.data_dir),
        "127.0.0.1",
        f":{s.rasa_port}",
        f":{s.actions_port}",
        str(s.rasa_port),
        "Rasa",
        "Data folder",
        "polling",
    ):
        assert secret not in r.text, secret
    assert not re.search(r"\b\d+\.\d+\.\d+\b", r.text)  # no version numbers


def test_status_moved_to_the_cli(web):
    env = {
        "PATH": "/usr/bin:/bin",
        "INTERLUDE_DATA_DIR": str(web.settings.data_dir),
        "INTERLUDE_HTTP_PORT": str(web.port),
        "INTERLUDE_RASA_PORT": str(web.settings.rasa_port),
        "INTERLUDE_ACTIONS_PORT": str(web.settings.actions_port),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["data_dir"] == str(web.settings.data_dir) and status["web_app"]["up"] is True


def test_telegram_webhook_forgeries_never_reach_rasa_by_another_path(web, upstream):
    """The secret itself is checked by Rasa's Telegram channel (tests/integration/
    test_telegram_webhook.py sends wrong and missing secrets to a webhook-mode stack); here:
    only the secret header and the body are passed on, to the one fixed path."""
    before = len(upstream.seen)
    status, _, _ = web.raw(
        "POST",
        "/telegram/webhook",
        b"{}",
        {"x-telegram-bot-api-secret-token": "wrong", "x-forwarded-for": "1.2.3.4", "cookie": "a=b"},
    )
    assert status == 200 and upstream.seen[before:] == [("POST", "/webhooks/telegram/webhook")]
    assert web.raw("GET", "/telegram/webhook")[0] == 405
    assert isinstance(httpx.URL(web.url), httpx.URL)
