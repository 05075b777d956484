"""Conversation events Rasa could not save while the database was unreachable.

Each failed save becomes one file holding that save's new events, each with its place in the
conversation (`seq`) and its session (`session_no`), encrypted with the master key like the
outage spool (bot/store/spool.py): the patient's words never land in the clear. Files are
written to a temporary name, fsynced and renamed, named by a hash of the conversation id (which
is not written in the clear either) and the first seq, so one conversation's files sort in
order. Replaying is the caller's job and is idempotent by (conversation, seq): a crash between
"inserted" and "removed" never stores an event twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.store.crypto import Keyring


class EventSpool:
    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self._keyring = keyring
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    @staticmethod
    def _stem(sender_id: str) -> str:
        return hashlib.sha256(sender_id.encode()).hexdigest()[:24]

    def put(self, sender_id: str, rows: list[dict[str, Any]]) -> Path:
        """Keep one save's rows durably (each a dict with at least `seq` and `session_no`)."""
        first = rows[0]["seq"]
        name = f"{self._stem(sender_id)}-{first:012d}"
        body = json.dumps({"sender_id": sender_id, "rows": rows}).encode()
        tmp = self.directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self._keyring.wrap(body))
            fh.flush()
            os.fsync(fh.fileno())
        path = self.directory / f"{name}.rec"
        os.replace(tmp, path)
        return path

    def files(self, sender_id: str | None = None) -> list[Path]:
        """Spooled files of one conversation (or all), oldest seq first per conversation."""
        pattern = f"{self._stem(sender_id)}-*.rec" if sender_id is not None else "*.rec"
        return sorted(self.directory.glob(pattern))

    def has(self, sender_id: str) -> bool:
        return any(self.directory.glob(f"{self._stem(sender_id)}-*.rec"))

    def read(self, path: Path) -> tuple[str, list[dict[str, Any]]]:
        record = json.loads(self._keyring.unwrap(path.read_bytes()))
        return record["sender_id"], record["rows"]

    def senders(self) -> Iterator[str]:
        """Every conversation with events waiting (reads one file per conversation)."""
        seen: set[str] = set()
        for path in self.files():
            stem = path.name.split("-", 1)[0]
            if stem not in seen:
                seen.add(stem)
                yield self.read(path)[0]
