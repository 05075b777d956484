from __future__ import annotations

import json

import pytest
import yaml

from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.runtime import Store
from tests.integration.stack import Stack, start_stack
from tests.peers.smtp import SmtpServer
from tests.peers.telegram_api import FakeTelegram
from tests.peers.webhook import WebhookReceiver

PATIENT_BOT_TOKEN = "654321:PATIENT-TOKEN"
ALERT_ENV = {
    "TEST_ALERT_TOKEN": "123456:TEST-TOKEN",
    "TEST_WEBHOOK_SECRET": "stack-webhook-secret-0123456789",
}


@pytest.fixture(scope="package")
def alert_peers():
    """The clinic's alert endpoints, on loopback, for the whole package."""
    with FakeTelegram() as tg, SmtpServer() as smtp, WebhookReceiver() as hook:
        yield tg, smtp, hook


@pytest.fixture(scope="package")
def patient_telegram(alert_peers) -> FakeTelegram:
    """The patients' Telegram bot, served by the same Bot API look-alike as the alert bot."""
    tg, _, _ = alert_peers
    return tg.also_serve(FakeTelegram(token=PATIENT_BOT_TOKEN, username="interlude_test_bot"))


@pytest.fixture(scope="package")
def stack(tmp_path_factory, alert_peers, patient_telegram) -> Stack:
    tg, smtp, hook = alert_peers
    root = tmp_path_factory.mktemp("stack")
    data = root / "data"
    data.mkdir()
    (data / "alerts.yml").write_text(
        yaml.safe_dump(
            {
                "telegram": {"token_env": "TEST_ALERT_TOKEN"},
                "email": {"host": "127.0.0.1", "port": smtp.port, "from": "alerts@example.invalid"},
                "clinics": {
                    DEMO_CLINIC_SLUG: {
                        "telegram": {"chat_id": "-100"},
                        "email": {"to": ["oncall@example.invalid"]},
                        "webhook": {"url": hook.hook_url, "secret_env": "TEST_WEBHOOK_SECRET"},
                    }
                },
            }
        )
    )
    s = start_stack(
        data,
        root / "console.log",
        INTERLUDE_TELEGRAM_API_URL=tg.api_url,
        INTERLUDE_TELEGRAM_TOKEN=PATIENT_BOT_TOKEN,  # polling mode, the default
        INTERLUDE_SCHEDULER_INTERVAL="1",
        **ALERT_ENV,
    )
    yield s
    s.stop()


@pytest.fixture(scope="package")
def stack_store(stack: Stack) -> Store:
    """The running stack's database, opened from the test process as another client would."""
    store = Store.open(stack.settings.database_url, stack.settings.data_dir, environ={})
    yield store
    store.core.close()


@pytest.fixture
def new_patient(stack_store: Store):
    """Enrol a fresh patient in the demo clinic; returns the patient ref."""

    def make(locale: str = "en-US", consented: bool = True) -> str:
        clinic_id = stack_store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
        staff_id = stack_store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
        ref = stack_store.patients.create_patient(
            clinic_id=clinic_id, therapist_id=staff_id, display_name="Test Patient", locale=locale
        ).ref
        if consented:  # most tests are about what follows consent; test_consent.py covers it
            stack_store.patients.record_consent(ref, "test")
        return ref

    return make


@pytest.fixture(scope="package")
def quiet_clinic(stack_store: Store) -> tuple[int, int]:
    """A clinic with no alert channel in alerts.yml (the demo clinic has all three): what the
    patient is told must not promise an alert there. Returns (clinic id, therapist's staff id)."""
    clinic_id = stack_store.staff.ensure_clinic("quiet", "Quiet Clinic (synthetic)")
    staff_id, _ = stack_store.staff.ensure_staff(
        clinic_id, "quiet@example.invalid", "Dr Quiet", "therapist", None
    )
    return clinic_id, staff_id


@pytest.fixture
def quiet_patient(stack_store: Store, quiet_clinic):
    """Enrol a fresh patient in the clinic without alert channels; returns the patient ref."""

    def make(consented: bool = True) -> str:
        clinic_id, staff_id = quiet_clinic
        ref = stack_store.patients.create_patient(
            clinic_id=clinic_id, therapist_id=staff_id, display_name="Q Synthetic"
        ).ref
        if consented:
            stack_store.patients.record_consent(ref, "test")
        return ref

    return make


@pytest.fixture
def enroll(stack):
    """Run `interlude patient enroll` against the stack, as a clinic admin would; returns its JSON."""

    def run(name: str = "Pat Synthetic", **options: str) -> dict:
        argv = ["patient", "enroll", "--therapist", DEMO_THERAPIST_EMAIL, "--name", name]
        for key, value in options.items():
            argv += [f"--{key}", value]
        result = stack.cli(*argv)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


#: Debian's Chromium, as ../shared/notes/browser-tests.md says: without the background-networking
#: flags it keeps trying to reach outside hosts, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def browser():
    """Headless Chromium (Debian's, driven by Playwright) for the package."""
    from playwright.sync_api import sync_playwright

    from tests.integration.test_webchat import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()
