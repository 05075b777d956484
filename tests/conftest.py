"""Shared fixtures: settings in a temporary data folder, and a store on SQLite and PostgreSQL.

PostgreSQL tests use the machine's server on 127.0.0.1:5432 (trust auth); each test gets a
database of its own, created and dropped here. They fail, rather than skip, when the server is
down: `.ci/run` starts it. Set INTERLUDE_TEST_POSTGRES_URL to point elsewhere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests that train must train: the machine-wide model cache (bot/model_cache.py) stays out of them.
os.environ["INTERLUDE_MODEL_CACHE"] = "off"

PG_ADMIN_URL = os.environ.get("INTERLUDE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    return conn


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = "interlude_t_" + secrets.token_hex(6)
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'interlude.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def store(database_url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    from bot.runtime import Store
    from bot.store import migrate

    migrate.upgrade(database_url)
    s = Store.open(database_url, data_dir, environ={})
    yield s
    s.core.close()


@pytest.fixture
def clinic(store):  # type: ignore[no-untyped-def]
    """A clinic with one therapist and one patient; returns (clinic_id, staff_id, patient ref)."""
    clinic_id = store.staff.ensure_clinic("test", "Test Clinic")
    staff_id, _ = store.staff.ensure_staff(clinic_id, "t@example.invalid", "Dr T", "therapist", None)
    patient = store.patients.create_patient(
        clinic_id=clinic_id, therapist_id=staff_id, display_name="Sam Synthetic"
    )
    return clinic_id, staff_id, patient.ref
