"""The demo clinic: a therapist and an admin login and one patient, all synthetic, created once.

The demo patient's web chat link is kept in the secrets folder, so it survives restarts (a new
one is made only if it stopped working); with Telegram on, a join link is issued while the demo
patient has no Telegram chat bound yet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from bot.accounts import hash_password
from bot.config import Settings, _secret_file
from bot.runtime import Store
from bot.store.errors import CredentialRefused

DEMO_CLINIC_SLUG = "demo"
DEMO_THERAPIST_EMAIL = "therapist@demo.interlude.invalid"
DEMO_ADMIN_EMAIL = "clinic.admin@demo.interlude.invalid"
DEMO_PATIENT_REF = "pt_demo"


@dataclass(frozen=True)
class DemoInfo:
    clinic_id: int
    therapist_email: str
    therapist_password: str
    patient_ref: str
    web_chat_url: str = ""
    telegram_link: str | None = None
    admin_email: str = DEMO_ADMIN_EMAIL
    admin_password: str = ""


def _demo_web_token(store: Store, settings: Settings) -> str:
    path = settings.secrets_dir / "demo-web-token"
    token = _secret_file(path)
    try:
        store.patients.patient_for_web_token(token)
        return token
    except CredentialRefused:
        pass
    token = store.patients.issue_web_token(
        DEMO_PATIENT_REF, ttl=timedelta(days=settings.web_token_days), actor="system:demo-seed", origin="demo"
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
    return token


def seed_demo(store: Store, settings: Settings) -> DemoInfo:
    """Create the demo clinic if missing (idempotent); passwords live in the secrets folder."""
    password = _secret_file(settings.secrets_dir / "demo-therapist-password", nbytes=12)
    admin_password = _secret_file(settings.secrets_dir / "demo-admin-password", nbytes=12)
    clinic_id = store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
    staff_id, _ = store.staff.ensure_staff(
        clinic_id, DEMO_THERAPIST_EMAIL, "Dr. Demo Therapist", "therapist", hash_password(password)
    )
    # A clinic admin too, so the demo shows the admin pages (staff, alerts, audit log).
    store.staff.ensure_staff(
        clinic_id, DEMO_ADMIN_EMAIL, "Demo Clinic Admin", "admin", hash_password(admin_password)
    )
    if store.patients.find_patient(DEMO_PATIENT_REF) is None:
        store.patients.create_patient(
            clinic_id=clinic_id,
            therapist_id=staff_id,
            display_name="Alex Example (synthetic)",
            timezone="America/New_York",
            locale="en-US",
            ref=DEMO_PATIENT_REF,
            actor="system:demo-seed",
        )
    web_url = settings.web_chat_url(_demo_web_token(store, settings))
    telegram = None
    if settings.telegram_token and not any(
        ch == "telegram" for ch, _ in store.patients.channel_identities(DEMO_PATIENT_REF)
    ):
        from bot.patients.enrollment import telegram_bot_username, telegram_link

        code = store.patients.issue_enrollment_code(
            DEMO_PATIENT_REF,
            ttl=timedelta(days=settings.enrollment_code_days),
            actor="system:demo-seed",
            origin="demo",
        )
        telegram = telegram_link(telegram_bot_username(settings), code) or f"/start {code}"
    return DemoInfo(
        clinic_id,
        DEMO_THERAPIST_EMAIL,
        password,
        DEMO_PATIENT_REF,
        web_url,
        telegram,
        DEMO_ADMIN_EMAIL,
        admin_password,
    )
