"""SQLite made unwritable under a running stack (the database file and its write-ahead log
made immutable with `chattr +i`; skipped where that cannot be done): the same promise as a PostgreSQL
outage (test_c). Reads still work, so the stack must not mistake the failing writes for bad
input: a journal entry is held in the spool and saved once, the conversation goes on and picks
up where it was, a risk message gets crisis resources and becomes exactly one flag."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.reliability.outage import journal_through_outage

pytestmark = pytest.mark.integration


def _set_writable(db: Path, writable: bool) -> bool:
    """Make the database and its write-ahead log immutable (or writable again). The log too:
    the stack's pooled connections keep their files open, and an immutable flag, unlike file
    permissions, also stops writes through a descriptor opened before it was set."""
    flag = "-i" if writable else "+i"
    files = [db, *[p for p in (Path(f"{db}-wal"),) if p.exists()]]
    return all(
        subprocess.run(["chattr", flag, str(f)], capture_output=True, check=False).returncode == 0
        for f in files
    )


def _writable(db: Path) -> bool:
    conn = sqlite3.connect(db, timeout=1)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS _probe (x INTEGER)")
        conn.execute("DROP TABLE _probe")
        conn.commit()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def test_sqlite_made_unwritable_gets_the_outage_treatment(rstack, rstore, patient):
    db = Path(make_url(rstack.settings.database_url).database)

    def down() -> None:
        if not _set_writable(db, False) or _writable(db):
            _set_writable(db, True)
            pytest.skip("cannot make the SQLite file immutable here (chattr needs root)")

    saw = journal_through_outage(
        rstack, rstore, patient, down, lambda: _set_writable(db, True), "sqlite", readable=True
    )
    for key, text in saw.items():
        print(f"SQLite unwritable, local, {key}: {text[:160]}")
    assert _writable(db)
