"""The last good answer of a database lookup, served while the database is unreachable.

During an outage the channels and the action server still need to know who a patient is (and
whether they consented) to keep a conversation going. Those answers change rarely and only
through the database, so the last answer read is a sound stand-in until it is back: a patient
enrolled, consented or verified before the outage still is. Nothing is remembered across
restarts, and a lookup that never succeeded still fails (the caller answers honestly).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from bot.checkins.saving import UNAVAILABLE

T = TypeVar("T")


class LastKnown:
    """A bounded LRU of lookup results keyed by (function name, arguments)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # lookups run in worker threads

    def get(self, fn: Callable[..., T], *args: Hashable) -> T:
        """`fn(*args)`, remembered; its last answer if the database is unreachable now.
        Raises what `fn` raised when nothing is remembered (or the error is not an outage)."""
        key = (getattr(fn, "__name__", repr(fn)), *args)
        try:
            value = fn(*args)
        except UNAVAILABLE:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
            raise
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def put(self, fn: Callable[..., T], *args: Hashable, value: T) -> None:
        """Remember `value` as what `fn(*args)` answers (learnt another way, e.g. on enrolment)."""
        key = (getattr(fn, "__name__", repr(fn)), *args)
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def forget(self) -> None:
        with self._lock:
            self._values.clear()
