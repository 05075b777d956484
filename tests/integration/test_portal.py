"""The therapist portal on the running stack: HTTP-level refusals (sign-in, CSRF, another
therapist's patient, bad input) with httpx, and a clinician's journey in headless Chromium
with screenshots in test-artifacts/portal/ and an axe-core check of every page."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.accounts import hash_password
from bot.config import PROJECT_ROOT
from bot.demo import DEMO_THERAPIST_EMAIL
from bot.store.api import SignalInput

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "portal"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
OTHER_EMAIL = "other.therapist@demo.interlude.invalid"
OTHER_PASSWORD = "another-long-password-42"


def demo_password(stack) -> str:
    return (stack.settings.secrets_dir / "demo-therapist-password").read_text().strip()


def client(stack) -> httpx.Client:
    return httpx.Client(base_url=stack.settings.web_url, follow_redirects=False, timeout=60)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(stack, email: str, password: str) -> httpx.Client:
    c = client(stack)
    token = csrf_of(c.get("/portal/login").text)
    r = c.post("/portal/login", data={"csrf": token, "email": email, "password": password, "next": "/portal"})
    assert r.status_code == 303, r.text[:500]
    return c


@pytest.fixture(scope="module")
def two_therapists(stack, stack_store):
    """The demo therapist and a colleague in the same clinic, each with a flagged patient."""
    clinic = stack_store.ensure_clinic("demo", "Demo Clinic (synthetic data)")
    other_id, _ = stack_store.ensure_staff(
        clinic, OTHER_EMAIL, "Dr. Other", "therapist", hash_password(OTHER_PASSWORD)
    )
    demo_id = stack_store.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    mine = stack_store.create_patient(
        clinic_id=clinic, therapist_id=demo_id, display_name="Mine Synthetic"
    ).ref
    theirs = stack_store.create_patient(
        clinic_id=clinic, therapist_id=other_id, display_name="Theirs Synthetic"
    ).ref
    flags = {}
    for ref in (mine, theirs):
        flags[ref] = stack_store.record_risk(
            ref,
            message_id=None,
            text=f"risk words of {ref}",
            signal=SignalInput("high", ["suicide"], [{"rule": "t"}]),
        ).flag_id
    return {"mine": mine, "theirs": theirs, "flags": flags, "other_id": other_id}


def test_pages_need_a_signed_in_clinician(stack):
    c = client(stack)
    for path in (
        "/portal",
        "/portal/patients",
        "/portal/patients/pt_demo",
        "/portal/flags/1",
        "/portal/enroll",
    ):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/portal/login"), path
    assert c.post("/portal/flags/1/ack", data={}).status_code == 303


def test_sign_in_refusals_and_throttling(stack, stack_store):
    c = client(stack)
    token = csrf_of(c.get("/portal/login").text)
    wrong = {"csrf": token, "email": DEMO_THERAPIST_EMAIL, "password": "not-the-password-at-all"}
    r = c.post("/portal/login", data=wrong)
    assert r.status_code == 401 and "do not match" in r.text
    assert c.post("/portal/login", data={**wrong, "csrf": "forged"}).status_code == 403
    assert (
        client(stack).post("/portal/login", data={k: v for k, v in wrong.items() if k != "csrf"}).status_code
        == 403
    )
    # Five failures for one e-mail, then sign-in for it is refused for a while, even with the right password.
    victim = "victim@demo.interlude.invalid"
    stack_store.ensure_staff(1, victim, "Victim", "therapist", hash_password("victims-password-123"))
    for _ in range(5):
        assert c.post("/portal/login", data={**wrong, "email": victim}).status_code == 401
    r = c.post("/portal/login", data={**wrong, "email": victim, "password": "victims-password-123"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # Other accounts from the same address are not locked out.
    sign_in(stack, DEMO_THERAPIST_EMAIL, demo_password(stack))
    actions = [e["action"] for e in stack_store.audit_events()]
    assert "login.failed" in actions and "login" in actions
    # The session cookie is HttpOnly and SameSite (and Secure once served over https).
    fresh = client(stack)
    token = csrf_of(fresh.get("/portal/login").text)
    r = fresh.post(
        "/portal/login", data={"csrf": token, "email": DEMO_THERAPIST_EMAIL, "password": demo_password(stack)}
    )
    set_cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("interlude_session="))
    assert "httponly" in set_cookie.lower() and "samesite=lax" in set_cookie.lower()


def test_another_therapists_patient_is_a_404_everywhere(stack, stack_store, two_therapists):
    c = sign_in(stack, DEMO_THERAPIST_EMAIL, demo_password(stack))
    mine, theirs = two_therapists["mine"], two_therapists["theirs"]
    their_flag, my_flag = two_therapists["flags"][theirs], two_therapists["flags"][mine]
    page = c.get("/portal")
    token = csrf_of(page.text)
    assert "Mine Synthetic" in page.text and "Theirs Synthetic" not in page.text
    assert "Theirs Synthetic" not in c.get("/portal/patients").text
    assert c.get(f"/portal/patients/{mine}").status_code == 200
    for path in (
        f"/portal/patients/{theirs}",
        f"/portal/patients/{theirs}/transcript",
        f"/portal/flags/{their_flag}",
        "/portal/patients/pt_doesnotexist",
        "/portal/flags/999999",
    ):
        r = c.get(path)
        assert (
            r.status_code == 404
            and "Theirs Synthetic" not in r.text
            and f"risk words of {theirs}" not in r.text
        )
    for action in ("ack", "resolve", "note", "takeover"):
        assert (
            c.post(f"/portal/flags/{their_flag}/{action}", data={"csrf": token, "text": "x"}).status_code
            == 404
        )
    assert (
        c.post(
            f"/portal/patients/{theirs}/sessions", data={"csrf": token, "at": "2031-01-01T10:00"}
        ).status_code
        == 404
    )
    assert stack_store.flag_status(their_flag) == "open"  # nothing happened to it
    # Forged CSRF on my own flag: refused, not acknowledged.
    assert c.post(f"/portal/flags/{my_flag}/ack", data={"csrf": "forged"}).status_code == 403
    assert stack_store.flag_status(my_flag) == "open"
    # Every view of patient data was audited under my name, none of theirs.
    demo_id = stack_store.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    mine_actions = {(e["actor"], e["action"]) for e in stack_store.audit_events(patient_ref=mine)}
    assert (f"staff:{demo_id}", "read.timeline") in mine_actions
    assert not any(e["actor"] == f"staff:{demo_id}" for e in stack_store.audit_events(patient_ref=theirs))


def test_clinic_admins_see_their_clinic_only(stack, stack_store, two_therapists):
    admin_pw = "clinic-admin-password-1"
    stack_store.ensure_staff(
        1, "admin@demo.interlude.invalid", "Demo Admin", "admin", hash_password(admin_pw)
    )
    c = sign_in(stack, "admin@demo.interlude.invalid", admin_pw)
    text = c.get("/portal/patients").text
    assert "Mine Synthetic" in text and "Theirs Synthetic" in text
    elsewhere = stack_store.ensure_clinic("elsewhere", "Elsewhere Clinic")
    stack_store.ensure_staff(
        elsewhere, "admin@elsewhere.invalid", "Far Admin", "admin", hash_password(admin_pw)
    )
    far = sign_in(stack, "admin@elsewhere.invalid", admin_pw)
    assert far.get(f"/portal/patients/{two_therapists['mine']}").status_code == 404
    assert "Mine Synthetic" not in far.get("/portal/patients").text


def test_bad_form_input_is_refused_and_nothing_is_lost(stack, stack_store, two_therapists):
    c = sign_in(stack, DEMO_THERAPIST_EMAIL, demo_password(stack))
    mine, flag = two_therapists["mine"], two_therapists["flags"][two_therapists["mine"]]
    token = csrf_of(c.get(f"/portal/patients/{mine}").text)
    r = c.post(f"/portal/patients/{mine}/sessions", data={"csrf": token, "at": "someday soon"})
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert "Give the date and time" in c.get(r.headers["location"]).text
    r = c.post(f"/portal/patients/{mine}/sessions", data={"csrf": token, "at": "2020-01-01T10:00"})
    assert "in the past" in c.get(r.headers["location"]).text
    r = c.post(f"/portal/flags/{flag}/note", data={"csrf": token, "text": "   "})
    assert "The note is empty" in c.get(r.headers["location"]).text
    huge = c.post(f"/portal/flags/{flag}/note", data={"csrf": token, "text": "x" * 100_000})
    assert huge.status_code == 413
    r = c.post(
        "/portal/enroll", data={"csrf": token, "name": "Zed", "timezone": "Mars/Olympus", "locale": "en-US"}
    )
    assert r.status_code == 400 and "Unknown time zone" in r.text and 'value="Zed"' in r.text  # input kept
    assert stack_store.dosing_sessions(mine) == []


def test_a_clinicians_journey_in_chromium(stack, stack_store, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # A name of its own: other tests leave flagged "Test Patient"s on the same stack.
    clinic = stack_store.ensure_clinic("demo", "Demo Clinic (synthetic data)")
    therapist = stack_store.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    ref = stack_store.create_patient(
        clinic_id=clinic, therapist_id=therapist, display_name="Jordan Journey"
    ).ref
    stack_store.record_consent(ref, "test")
    client_ = stack.client(ref)
    for text in ("check in", "6", "3", "7", "a calm evening", "i want to kill myself"):
        client_.send(text)
    context = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    serious: dict[str, list] = {}

    def shot_and_axe(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        page.add_script_tag(path=str(AXE))
        found = page.evaluate(
            "async () => (await axe.run(document)).violations.map(v => ({id: v.id, impact: v.impact}))"
        )
        serious[name] = [v for v in found if v["impact"] in ("serious", "critical")]

    page.goto(f"{stack.settings.web_url}/portal")
    page.get_by_label("E-mail").fill(DEMO_THERAPIST_EMAIL)
    page.get_by_label("Password").fill(demo_password(stack))
    shot_and_axe("01-sign-in")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    shot_and_axe("02-today")
    with page.expect_navigation():
        page.get_by_role("table").get_by_role("link", name="Jordan Journey").click()
    assert "i want to kill myself" in page.content()
    with page.expect_navigation():
        page.get_by_role("button", name="Acknowledge").click()
    assert "acknowledged by Dr. Demo Therapist" in page.content()
    shot_and_axe("03-flag")
    with page.expect_navigation():
        page.get_by_role("link", name="Transcript").first.click()
    flagged = page.locator(".msg.flagged")
    assert flagged.count() >= 1 and "suicide.active" in flagged.first.inner_text()
    shot_and_axe("04-transcript")
    page.go_back()
    with page.expect_navigation():
        page.get_by_role("button", name="Take over the conversation").click()
    client_.fetch_outbox()
    page.get_by_label("Message to the patient").fill("Hi, it's Dr. Demo. I'm here with you.")
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    assert any("I'm here with you" in m.get("text", "") for m in client_.fetch_outbox())
    with page.expect_navigation():
        page.get_by_role("button", name="Hand back to Interlude").click()
    assert any("handed the conversation back" in m.get("text", "") for m in client_.fetch_outbox())
    page.get_by_label("Add a note").fill("Called the patient; safe, plan agreed.")
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").click()
    assert "safe, plan agreed" in page.content()
    with page.expect_navigation():
        page.get_by_role("button", name="Resolve").click()
    assert stack_store.open_flag_severity(ref) is None
    page.goto(f"{stack.settings.web_url}/portal/patients/{ref}")
    assert "a calm evening" in page.content()
    shot_and_axe("05-patient")
    with page.expect_navigation():
        page.get_by_role("link", name="Trends").click()
    assert page.get_by_role("img", name="Mood").count() == 1
    shot_and_axe("05b-trends")
    page.goto(f"{stack.settings.web_url}/portal/enroll")
    page.get_by_label("Patient's name").fill("Portal Enrolled")
    page.get_by_label("Time zone").fill("Europe/London")
    with page.expect_navigation():
        page.get_by_role("button", name="Enroll").click()
    assert "is enrolled" in page.content() and "t.me/interlude_test_bot?start=" in page.content()
    assert page.locator(".qr svg").count() == 1
    shot_and_axe("06-enrolled")
    context.close()
    assert all(v == [] for v in serious.values()), serious


def test_trends_and_csv_are_scoped_and_audited(stack, stack_store, two_therapists):
    mine, theirs = two_therapists["mine"], two_therapists["theirs"]
    stack_store.record_checkin(mine, "daily", [("mood", None, 4.0), ("note", '=HYPERLINK("http://x")', None)])
    stack_store.record_checkin(
        mine, "phq9", [(f"item{i}", None, 1.0) for i in range(1, 10)], instrument=("phq9", [1] * 9, 9, "mild")
    )
    c = sign_in(stack, DEMO_THERAPIST_EMAIL, demo_password(stack))
    page = c.get(f"/portal/patients/{mine}/trends")
    assert page.status_code == 200 and page.text.count('role="img"') == 2  # mood and PHQ-9 (no GAD-7 yet)
    assert "No GAD-7 total yet" in page.text and "mild" in page.text
    csv_text = c.get(f"/portal/patients/{mine}/entries.csv")
    assert csv_text.headers["content-type"].startswith("text/csv")
    lines = csv_text.text.splitlines()
    assert lines[0] == "recorded_at_utc,kind,prompt_set,item,value,text,band"
    assert any(",answer,daily,mood,4," in line for line in lines)
    assert any("'=HYPERLINK" in line for line in lines)  # a formula is quoted as text
    assert any(",score,phq9,total,9,,mild" in line for line in lines)
    for path in (f"/portal/patients/{theirs}/trends", f"/portal/patients/{theirs}/entries.csv"):
        assert c.get(path).status_code == 404
    actions = [e["action"] for e in stack_store.audit_events(patient_ref=mine)]
    assert "read.trends" in actions and "export.csv" in actions
