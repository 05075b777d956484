"""The demo clinic: one therapist login and one patient, all synthetic, created once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.accounts import hash_password
from bot.config import _secret_file
from bot.store.api import Store

DEMO_CLINIC_SLUG = "demo"
DEMO_THERAPIST_EMAIL = "therapist@demo.interlude.invalid"
DEMO_PATIENT_REF = "pt_demo"


@dataclass(frozen=True)
class DemoInfo:
    clinic_id: int
    therapist_email: str
    therapist_password: str
    patient_ref: str


def seed_demo(store: Store, data_dir: Path) -> DemoInfo:
    """Create the demo clinic if missing (idempotent); the password lives in the secrets folder."""
    password = _secret_file(data_dir / "secrets" / "demo-therapist-password", nbytes=12)
    clinic_id = store.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
    staff_id, _ = store.ensure_staff(
        clinic_id, DEMO_THERAPIST_EMAIL, "Dr. Demo Therapist", "therapist", hash_password(password)
    )
    if store.find_patient(DEMO_PATIENT_REF) is None:
        store.create_patient(
            clinic_id=clinic_id,
            therapist_id=staff_id,
            display_name="Alex Example (synthetic)",
            timezone="America/New_York",
            locale="en-US",
            ref=DEMO_PATIENT_REF,
            actor="system:demo-seed",
        )
    return DemoInfo(clinic_id, DEMO_THERAPIST_EMAIL, password, DEMO_PATIENT_REF)
