from __future__ import annotations

import pytest

from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.store.api import Store
from tests.integration.stack import Stack, start_stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Stack:
    root = tmp_path_factory.mktemp("stack")
    s = start_stack(root / "data", root / "console.log")
    yield s
    s.stop()


@pytest.fixture(scope="package")
def stack_store(stack: Stack) -> Store:
    """The running stack's database, opened from the test process as another client would."""
    store = Store.open(stack.settings.database_url, stack.settings.data_dir, environ={})
    yield store
    store.close()


@pytest.fixture
def new_patient(stack_store: Store):
    """Enrol a fresh patient in the demo clinic; returns the patient ref."""

    def make(locale: str = "en-US") -> str:
        clinic_id = stack_store.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
        staff_id = stack_store.staff_id_by_email(DEMO_THERAPIST_EMAIL)
        return stack_store.create_patient(
            clinic_id=clinic_id, therapist_id=staff_id, display_name="Test Patient", locale=locale
        ).ref

    return make
