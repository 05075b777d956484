"""The tracker store warns when a conversation changed under a message (another writer appended
while it was handled: with replicas, a lock-store failure). A brand-new conversation's first
turn is no such change: Rasa saves the empty tracker first, before anything is stored."""

from __future__ import annotations

import asyncio
import logging

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered

from bot.config import PROJECT_ROOT
from bot.rasa_ext.tracker_store import EncryptedSQLTrackerStore


async def turn(ts: EncryptedSQLTrackerStore, ref: str, text: str) -> None:
    tracker = await ts.get_or_create_tracker(ref, append_action_listen=False)  # as Rasa's processor
    if not tracker.events:
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered(text))
    tracker.update(ActionExecuted("action_listen"))
    await ts.save(tracker)


def test_only_a_real_change_is_reported(store, clinic, caplog):
    _, _, ref = clinic
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    a, b = EncryptedSQLTrackerStore(domain, store=store), EncryptedSQLTrackerStore(domain, store=store)
    with caplog.at_level(logging.WARNING, logger="bot.rasa_ext.tracker_store"):
        asyncio.run(turn(a, ref, "one"))  # a new conversation
        asyncio.run(turn(b, ref, "two"))  # another replica, after it: no change under it
        asyncio.run(turn(a, ref, "three"))
    assert "changed while a message was handled" not in caplog.text

    async def overlapping() -> None:  # both load, then both save: the second is a real change
        first = await a.retrieve(ref)
        second = await b.retrieve(ref)
        first.update(UserUttered("four"))
        second.update(UserUttered("five"))
        await a.save(first)
        await b.save(second)

    with caplog.at_level(logging.WARNING, logger="bot.rasa_ext.tracker_store"):
        asyncio.run(overlapping())
    assert caplog.text.count("changed while a message was handled") == 1
