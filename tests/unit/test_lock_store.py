"""The Redis lock store replicas share: another replica acting between a read and a write of a
conversation's lock must not hand out a ticket twice or delete a lock that is in use.

Uses the machine's Redis (127.0.0.1:6379, INTERLUDE_TEST_REDIS_URL elsewhere), keys under a
prefix of their own. The interleaving is forced (the other replica runs inside the first one's
read-change-write), so the outcome is certain either way; Rasa's own RedisLockStore is run the
same way to show what the atomic one prevents."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlparse

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import RedisLockStore

from bot.rasa_ext.lock_store import AtomicRedisLockStore

REDIS = urlparse(os.environ.get("INTERLUDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/1"))

pytestmark = pytest.mark.redis


def pair(cls: type[RedisLockStore]) -> tuple[RedisLockStore, RedisLockStore]:
    """Two lock stores (two replicas) on the same keys."""
    prefix = "t" + secrets.token_hex(6)
    db = int((REDIS.path or "/1").lstrip("/") or 1)
    make = lambda: cls(host=REDIS.hostname, port=REDIS.port or 6379, db=db, key_prefix=prefix)  # noqa: E731
    return make(), make()


def interleave(monkeypatch: pytest.MonkeyPatch, method: str, other) -> None:  # type: ignore[no-untyped-def]
    """The first time TicketLock.`method` runs, `other` runs first (the other replica acting
    between this replica's read of the lock and its write)."""
    original = getattr(TicketLock, method)
    fired: list[bool] = []

    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not fired:
            fired.append(True)
            other()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TicketLock, method, patched)


@pytest.mark.parametrize("cls, atomic", [(AtomicRedisLockStore, True), (RedisLockStore, False)])
def test_two_replicas_never_get_the_same_ticket(monkeypatch, cls, atomic):
    a, b = pair(cls)
    issued: list[int] = []
    interleave(monkeypatch, "issue_ticket", lambda: issued.append(b.issue_ticket("pt_x")))
    issued.append(a.issue_ticket("pt_x"))
    try:
        if atomic:
            assert sorted(issued) == [0, 1]
            assert [t.number for t in a.get_lock("pt_x").tickets] == [0, 1]
        else:  # Rasa 3.6's store: both replicas would serve the conversation at once
            assert issued == [0, 0]
    finally:
        a.delete_lock("pt_x")


@pytest.mark.parametrize("cls, atomic", [(AtomicRedisLockStore, True), (RedisLockStore, False)])
def test_cleanup_never_deletes_a_lock_another_replica_holds_a_ticket_of(monkeypatch, cls, atomic):
    a, b = pair(cls)
    mine = a.issue_ticket("pt_y")
    theirs: list[int] = []
    interleave(monkeypatch, "is_someone_waiting", lambda: theirs.append(b.issue_ticket("pt_y")))
    a.cleanup("pt_y", mine)
    try:
        lock = b.get_lock("pt_y")
        if atomic:
            assert lock is not None and [t.number for t in lock.tickets] == theirs
        else:  # the other replica's message would fail with a LockError
            assert lock is None
    finally:
        a.delete_lock("pt_y")


def test_the_lock_store_is_built_from_an_endpoint_config():
    from rasa.core.lock_store import LockStore
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(
        url=REDIS.hostname,
        type="bot.rasa_ext.lock_store.AtomicRedisLockStore",
        port=REDIS.port or 6379,
        db=1,
        key_prefix="interludetest",
    )
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix == "interludetest:lock:"
    store.red.ping()
