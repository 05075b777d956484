"""SQLite made unwritable under a running stack (the database file made immutable with
`chattr +i`, or read-only where the tests do not run as root): the same promise as a PostgreSQL
outage (test_c). Reads still work, so the stack must not mistake the failing writes for bad
input: a journal entry is held in the spool and saved once, the conversation goes on and picks
up where it was, a risk message gets crisis resources and becomes exactly one flag."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.reliability.outage import journal_through_outage

pytestmark = pytest.mark.integration


def _set_writable(db: Path, writable: bool) -> None:
    flag = "-i" if writable else "+i"
    done = subprocess.run(["chattr", flag, str(db)], capture_output=True, check=False).returncode == 0
    if not done:  # no chattr (or not root): file permissions, which bind a non-root user
        os.chmod(db, 0o600 if writable else 0o400)


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
        _set_writable(db, False)
        if _writable(db):
            _set_writable(db, True)
            pytest.skip("cannot make the SQLite file unwritable here")

    saw = journal_through_outage(
        rstack, rstore, patient, down, lambda: _set_writable(db, True), "sqlite", readable=True
    )
    for key, text in saw.items():
        print(f"SQLite unwritable, local, {key}: {text[:160]}")
    assert _writable(db)
