"""Rules every patient channel applies to inbound text before Rasa sees it (no Rasa imports).

- Rasa reads a message starting with "/" as an intent ("/affirm"). Our own buttons use that, but
  a patient typing "/EXTERNAL_handoff_started" must not be able to silence the bot: only
  lowercase intent payloads pass; anything else loses its leading slashes and is plain text.
- One sender's messages are handled one at a time, in order; a sender who floods gets a
  polite refusal instead of an unbounded queue.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.safety.assessment import at_least
from bot.safety.service import default_detector

#: "/affirm", "/deny": payloads our own buttons send. Uppercase (EXTERNAL_*) and entity
#: payloads ("/intent{...}") are not accepted from patients.
BUTTON_INTENT = re.compile(r"^/[a-z][a-z_]{0,40}$")

T = TypeVar("T")


def sanitize(text: str) -> str:
    """The text to hand to Rasa: button intents as they are, any other leading '/' removed."""
    stripped = text.strip()
    if stripped.startswith("/") and not BUTTON_INTENT.match(stripped):
        return stripped.lstrip("/").strip()
    return text


def is_risky(text: str, threshold: str) -> bool:
    """Whether the text reaches the safety threshold: for text the channel would otherwise not
    pass on (an edit, a photo caption, a message from an unknown chat)."""
    return bool(text.strip()) and at_least(default_detector().assess(text).severity, threshold)


class SenderQueue:
    """Per-sender ordering with a cap: at most `max_pending` messages wait for one sender."""

    def __init__(self, max_pending: int = 20, window: float = 10.0, max_in_window: int = 15) -> None:
        self.max_pending = max_pending
        self.window = window
        self.max_in_window = max_in_window
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._pending: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def admit(self, sender: str, now: float | None = None) -> bool:
        """Record one arrival; False if the sender is over the rate or queue limit."""
        now = time.monotonic() if now is None else now
        recent = self._recent.setdefault(sender, deque())
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(recent) >= self.max_in_window or self._pending.get(sender, 0) >= self.max_pending:
            return False
        recent.append(now)
        return True

    async def run(self, sender: str, job: Callable[[], Awaitable[T]]) -> T:
        """Run `job` after every earlier job of the same sender (asyncio locks are FIFO)."""
        lock = self._locks.get(sender)
        if lock is None:
            lock = self._locks[sender] = asyncio.Lock()
            while len(self._locks) > 10_000:  # forget idle senders, oldest first
                old, old_lock = next(iter(self._locks.items()))
                if old_lock.locked():
                    break
                del self._locks[old]
                self._recent.pop(old, None)
        self._pending[sender] = self._pending.get(sender, 0) + 1
        try:
            async with lock:
                return await job()
        finally:
            self._pending[sender] -= 1
            if not self._pending[sender]:
                del self._pending[sender]


class SeenIds:
    """A bounded memory of update ids, so a redelivered update is handled once."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._ids: OrderedDict[object, None] = OrderedDict()

    def first_time(self, key: object) -> bool:
        if key in self._ids:
            return False
        self._ids[key] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True
