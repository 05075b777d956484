"""The SQLite database holds patient data (encrypted, but with metadata in clear): only its
owner may read it, whatever the umask (a fresh-eyes trial found it created world-readable)."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from bot.store.db import make_engine


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_sqlite_database_and_its_wal_are_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask: files world-readable by default
    try:
        db = tmp_path / "interlude.db"
        engine = make_engine(f"sqlite:///{db}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert mode(db) == 0o600
        wal = tmp_path / "interlude.db-wal"
        if wal.exists():  # WAL mode: SQLite gives it the database file's mode
            assert mode(wal) == 0o600
        engine.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_made_owner_only(tmp_path):
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_memory_databases_are_left_alone():
    make_engine("sqlite://").dispose()
    make_engine("sqlite:///:memory:").dispose()
