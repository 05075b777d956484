"""Portal sessions over HTTP (uvicorn on loopback, SQLite): the cookie is a random id only,
sign-out ends the session for every copy of the cookie, a new id at sign-in and after the
password step of two-step sign-in (no fixation), and a password change, a disabled account,
an admin, or "sign out everywhere" end sessions."""

from __future__ import annotations

import secrets
import time
from http.cookies import SimpleCookie

import httpx

from bot import totp
from bot.accounts import hash_password
from tests.security.conftest import PASSWORD, csrf_of

COOKIE = "interlude_session"


def new_staff(web, role: str = "therapist") -> tuple[int, str]:
    email = f"s-{secrets.token_hex(4)}@sec.example.invalid"
    clinic = web.store.staff.ensure_clinic("sec", "Security Clinic")
    staff_id, _ = web.store.staff.ensure_staff(clinic, email, "Dr Session", role, hash_password(PASSWORD))
    return staff_id, email


def sign_in(web, email: str, agent: str = "pytest") -> httpx.Client:
    c = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30, headers={"user-agent": agent})
    token = csrf_of(c.get("/portal/login").text)
    r = c.post("/portal/login", data={"csrf": token, "email": email, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/portal", r.text[:300]
    return c


def with_cookie(web, value: str) -> httpx.Client:
    """A client holding nothing but this session cookie (a copied or planted one)."""
    c = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30)
    c.cookies.set(COOKIE, value, domain="127.0.0.1", path="/")
    return c


def copy_of(web, c: httpx.Client) -> httpx.Client:
    return with_cookie(web, c.cookies[COOKIE])


def opens_patients(c: httpx.Client) -> bool:
    r = c.get("/portal/patients")
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def test_the_cookie_is_a_random_id_with_the_right_flags(web):
    _, email = new_staff(web)
    c = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30)
    token = csrf_of(c.get("/portal/login").text)
    r = c.post("/portal/login", data={"csrf": token, "email": email, "password": PASSWORD})
    header = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
    jar = SimpleCookie()
    jar.load(header)
    value = jar[COOKIE].value
    assert len(value) == 43 and "." not in value  # nothing signed or encoded in it: an id
    lowered = header.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # plain http on loopback; https deployments get Secure
    assert "max-age=28800" in lowered


def test_a_copied_cookie_stops_working_after_sign_out(web):
    _, email = new_staff(web)
    c = sign_in(web, email)
    stolen = copy_of(web, c)
    assert opens_patients(stolen)
    token = csrf_of(c.get("/portal/patients").text)
    r = c.post("/portal/logout", data={"csrf": token})
    assert r.status_code == 303
    assert not opens_patients(stolen)
    assert not opens_patients(c)


def test_sign_in_gives_a_new_session_id_so_a_planted_one_is_worthless(web):
    _, email = new_staff(web)
    attacker = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30)
    attacker.get("/portal/login")  # the attacker gets a pre-sign-in session id ...
    planted = attacker.cookies[COOKIE]
    victim = with_cookie(web, planted)
    token = csrf_of(victim.get("/portal/login").text)  # ... and plants it in the victim's browser
    r = victim.post("/portal/login", data={"csrf": token, "email": email, "password": PASSWORD})
    assert r.status_code == 303
    assert victim.cookies[COOKIE] != planted
    assert opens_patients(victim)
    assert not opens_patients(attacker)  # the planted id signs nobody in


def test_two_step_sign_in_changes_the_id_after_each_step(web):
    staff_id, email = new_staff(web)
    secret = web.store.staff_admin.totp_begin(staff_id)
    assert web.store.staff_admin.totp_check(
        staff_id, totp.code_at(secret, totp.step_of(time.time())), enable=True
    )
    c = httpx.Client(base_url=web.url, follow_redirects=False, timeout=30)
    token = csrf_of(c.get("/portal/login").text)
    first = c.cookies[COOKIE]
    r = c.post("/portal/login", data={"csrf": token, "email": email, "password": PASSWORD})
    assert r.headers["location"] == "/portal/login/code"
    second = c.cookies[COOKIE]
    assert second != first
    token = csrf_of(c.get("/portal/login/code").text)
    code = totp.code_at(secret, totp.step_of(time.time()) + 1)  # the next step: never used before
    r = c.post("/portal/login/code", data={"csrf": token, "code": code})
    assert r.status_code == 303 and r.headers["location"] == "/portal", r.text[:300]
    assert c.cookies[COOKIE] not in (first, second)
    assert opens_patients(c)
    half = with_cookie(web, second)
    assert not opens_patients(half)


def test_a_password_change_ends_the_other_sessions_only(web):
    _, email = new_staff(web)
    here, elsewhere = sign_in(web, email, "Here"), sign_in(web, email, "Elsewhere")
    token = csrf_of(here.get("/portal/account").text)
    new = "a-brand-new-password-9"
    r = here.post(
        "/portal/account/password", data={"csrf": token, "current": PASSWORD, "new": new, "repeat": new}
    )
    assert r.status_code == 303 and "Password+changed" in r.headers["location"]
    assert opens_patients(here)
    assert not opens_patients(elsewhere)


def test_account_lists_own_sessions_and_signs_out_everywhere(web):
    _, email = new_staff(web)
    a, b = sign_in(web, email, "Browser-A/1.0"), sign_in(web, email, "Browser-B/2.0")
    html = a.get("/portal/account").text
    assert "Browser-A/1.0" in html and "Browser-B/2.0" in html and "this browser" in html
    r = a.post("/portal/account/sessions/end", data={"csrf": csrf_of(html)})
    assert r.status_code == 303
    assert not opens_patients(a) and not opens_patients(b)


def test_disabling_an_account_or_an_admin_ends_its_sessions(web):
    staff_id, email = new_staff(web)
    admin = web.sign_in("admin")
    victim = sign_in(web, email)
    page = admin.get("/portal/admin/staff").text
    r = admin.post(f"/portal/admin/staff/{staff_id}", data={"csrf": csrf_of(page), "action": "end_sessions"})
    assert r.status_code == 303 and "Ended+1" in r.headers["location"]
    assert not opens_patients(victim)
    victim = sign_in(web, email)
    r = admin.post(f"/portal/admin/staff/{staff_id}", data={"csrf": csrf_of(page), "action": "disable"})
    assert r.status_code == 303
    assert not opens_patients(victim)
    # A therapist cannot end someone's sessions: the admin page is a 404 for them.
    mine = web.sign_in("mine")
    token = csrf_of(mine.get("/portal/account").text)
    r = mine.post(
        f"/portal/admin/staff/{web.staff['theirs']}", data={"csrf": token, "action": "end_sessions"}
    )
    assert r.status_code == 404
