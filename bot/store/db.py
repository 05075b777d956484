"""Engine and session factory: the one place connections are configured.

SQLite gets WAL and a busy timeout on every connection, because Rasa, the action server and
the web app write to the same file from different processes; PostgreSQL needs nothing special.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _owner_only_sqlite_file(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does (it would use
    the umask, often world-readable). Its -wal and -shm files take the same mode from it."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)


def _is_file_database(url: str) -> bool:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database == ":memory:" or "mode=memory" in database or parsed.query.get("mode") == "memory"
    return bool(database) and not in_memory


def make_engine(url: str) -> Engine:
    """Create an engine for `url` with Interlude's connection settings."""
    if url.startswith("sqlite"):
        _owner_only_sqlite_file(url)
        pooled = _is_file_database(url)
        engine = create_engine(
            url,
            future=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            # Pooled: SQLAlchemy 1.4 opens a new connection for every session on a file database
            # (NullPool), and opening one (file, WAL, pragmas) was 6% of the Rasa server's CPU a
            # message. No overflow limit: where NullPool never made a caller wait, this does not.
            **({"poolclass": QueuePool, "max_overflow": -1} if pooled else {}),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker) -> Iterator[Session]:
    """A session whose work commits together or not at all."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
