"""The demo clinic that `make run` seeds: a therapist, a clinic admin and one patient."""

from __future__ import annotations

from bot.config import load_settings
from bot.demo import DEMO_ADMIN_EMAIL, DEMO_THERAPIST_EMAIL, seed_demo
from bot.runtime import Store
from bot.store import migrate


def test_the_demo_has_a_therapist_and_an_admin_and_seeding_twice_changes_nothing(tmp_path):
    settings = load_settings({"INTERLUDE_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    migrate.upgrade(settings.database_url)
    store = Store.open(settings.database_url, settings.data_dir, environ={})
    try:
        first = seed_demo(store, settings)
        again = seed_demo(store, settings)
        assert (again.therapist_password, again.admin_password) == (
            first.therapist_password,
            first.admin_password,
        )
        assert store.portal.authenticate(DEMO_THERAPIST_EMAIL, first.therapist_password).role == "therapist"
        assert store.portal.authenticate(DEMO_ADMIN_EMAIL, first.admin_password).role == "admin"
        assert first.admin_password != first.therapist_password
        assert (settings.secrets_dir / "demo-admin-password").stat().st_mode & 0o077 == 0  # owner-only
        assert len(store.staff_admin.staff_list(store.staff.staff_id_by_email(DEMO_ADMIN_EMAIL))) == 2
    finally:
        store.core.close()
