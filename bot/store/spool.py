"""A durable, encrypted spool for writes that failed because the database was unreachable.

One file per record (written to a temp name, fsynced, then renamed), encrypted with the master
key, replayed in order. Replays are idempotent (each record carries a key the store checks),
so a crash between "applied" and "removed" never writes twice.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from bot.store.crypto import Keyring


class Spool:
    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self._keyring = keyring
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, kind: str, payload: dict) -> str:
        """Store one record durably; returns its id (also its idempotency key)."""
        record_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        body = json.dumps({"id": record_id, "kind": kind, "payload": payload}).encode()
        token = self._keyring.wrap(body)  # master-key encryption: patient text never lands in clear
        tmp = self.directory / f".{record_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(token)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / f"{record_id}.rec")
        return record_id

    def pending(self) -> int:
        return sum(1 for _ in self.directory.glob("*.rec"))

    def drain(self, apply: Callable[[str, str, dict], None]) -> int:
        """Apply records oldest first; stop at the first failure (the database is still down).

        `apply(record_id, kind, payload)` must be idempotent on record_id. Returns how many
        records were applied and removed.
        """
        done = 0
        for path in sorted(self.directory.glob("*.rec")):
            record = json.loads(self._keyring.unwrap(path.read_bytes()))
            try:
                apply(record["id"], record["kind"], record["payload"])
            except Exception:
                return done
            path.unlink()
            done += 1
        return done
