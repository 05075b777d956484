"""Rasa's RedisLockStore, with each change to a conversation's lock made atomically.

With several Rasa replicas (`interlude run --replicas N`) a patient's messages may reach two
replicas at once, and Rasa's ticket lock (rasa.core.lock_store, 3.6) is what keeps their turns
in order. Rasa 3.6's RedisLockStore changes a lock by reading it, changing it in Python and
writing it back (GET then SET; GET, check, then DEL on cleanup), so two replicas can both be
issued the same ticket, or one can delete a lock the other has just taken a ticket from (that
message then fails with a LockError). Within one process this never shows (nothing awaits
between the read and the write); across processes it does. Here every read-change-write is one
Redis transaction (WATCH/MULTI/EXEC, retried when another replica changed the key meanwhile).
Everything else, the ticket algorithm included, is Rasa's.

Configured in the endpoints file `interlude run --replicas N` writes (bot/replicas.py):
  lock_store: {type: bot.rasa_ext.lock_store.AtomicRedisLockStore, url: HOST, port: ..., db: ...}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")
#: What a change does with the key: keep it as it is, write the changed lock, or delete it.
KEEP, SET, DELETE = "keep", "set", "delete"


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        # Rasa builds a lock store of a custom type with the endpoint config only.
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        kwargs.pop("type", None)
        super().__init__(**kwargs)

    def _change(
        self, conversation_id: str, change: Callable[[TicketLock | None], tuple[str, TicketLock | None, T]]
    ) -> T:
        """Apply `change` to the stored lock in one transaction; returns what `change` returned."""
        key = self.key_prefix + conversation_id
        result: list[T] = []

        def transaction(pipe: Any) -> None:
            raw = pipe.get(key)  # immediate mode (WATCHed) until multi()
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            action, new, value = change(lock)
            pipe.multi()
            if action == SET and new is not None:
                pipe.set(key, new.dumps())
            elif action == DELETE:
                pipe.delete(key)
            result[:] = [value]  # the function reruns after a conflict: keep the last run's

        self.red.transaction(transaction, key)
        return result[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def change(lock: TicketLock | None) -> tuple[str, TicketLock | None, int]:
            lock = lock or self.create_lock(conversation_id)
            return SET, lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, change)
        except Exception as exc:  # as Rasa's: the message fails with a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        def change(lock: TicketLock | None) -> tuple[str, TicketLock | None, None]:
            if lock is None:
                return KEEP, None, None
            lock.remove_expired_tickets()
            return SET, lock, None

        self._change(conversation_id, change)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def change(lock: TicketLock | None) -> tuple[str, TicketLock | None, None]:
            if lock is None:
                return KEEP, None, None
            lock.remove_ticket_for(ticket_number)
            return SET, lock, None

        self._change(conversation_id, change)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Give back the ticket, and delete the lock only if no other ticket was issued meanwhile."""

        def change(lock: TicketLock | None) -> tuple[str, TicketLock | None, None]:
            if lock is None:
                return KEEP, None, None
            lock.remove_ticket_for(ticket_number)
            return (SET if lock.is_someone_waiting() else DELETE), lock, None

        self._change(conversation_id, change)
