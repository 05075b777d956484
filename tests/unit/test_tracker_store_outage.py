"""The tracker store while the database is unreachable (issue #20): a conversation in memory
goes on, its new events are kept encrypted in the event spool and inserted exactly once, in
order, when the database is back; a conversation not in memory is refused in a way Rasa's
fail-safe wrapper passes on (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.rasa_ext.tracker_store import ConversationUnavailable, EncryptedSQLTrackerStore
from bot.store.models import RasaEvent

ROOT = Path(__file__).resolve().parents[2]
NOTE = "amber-kettle-5521 is the note I wrote in the outage"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


class Outage:
    """Every new database session of the tracker store fails, as with PostgreSQL refusing
    connections or SQLite locked by another process."""

    def __init__(self, ts: EncryptedSQLTrackerStore) -> None:
        self.ts, self.real = ts, ts.sessionmaker

    def __enter__(self) -> Outage:
        def refuse():  # type: ignore[no-untyped-def]
            raise OperationalError("connect", {}, Exception("database unreachable"))

        self.ts.sessionmaker = refuse
        return self

    def __exit__(self, *exc: object) -> None:
        self.ts.sessionmaker = self.real


def rows_of(store, ref: str) -> list[tuple[int, int, str]]:  # type: ignore[no-untyped-def]
    with store.core.factory() as s:
        return list(
            s.execute(
                select(RasaEvent.seq, RasaEvent.session_no, RasaEvent.type_name)
                .where(RasaEvent.sender_id == ref)
                .order_by(RasaEvent.id)
            ).all()
        )


def test_a_conversation_goes_on_from_memory_and_is_saved_once_when_the_database_is_back(
    store, clinic, domain, tmp_path
):
    ref = clinic[2]
    spool = tmp_path / "events"
    ts = EncryptedSQLTrackerStore(domain, store=store, spool_dir=spool)
    tracker = DialogueStateTracker(ref, domain.slots)
    for e in (
        ActionExecuted("action_session_start", timestamp=1000),
        SessionStarted(timestamp=1000),
        ActionExecuted("action_listen", timestamp=1000),
        UserUttered("hello", {"name": "greet"}, timestamp=1001),
        BotUttered("Hi! Shall we check in?", timestamp=1002),
        ActionExecuted("action_listen", timestamp=1002),
    ):
        tracker.update(e)
    run(ts.save(tracker))  # a first message: a session began, and it is still in memory
    before = rows_of(store, ref)

    with Outage(ts):
        during = run(ts.retrieve(ref))
        assert during is not None and during.latest_message.text == "hello"
        during.update(UserUttered(NOTE, {"name": "inform"}, timestamp=1010))
        during.update(BotUttered("Thank you. I've kept your answers safely.", timestamp=1011))
        during.update(ActionExecuted("action_listen", timestamp=1011))
        run(ts.save(during))
        again = run(ts.retrieve(ref))  # the next message continues after the note
        assert again.latest_message.text == NOTE
        again.update(UserUttered("hello again", {"name": "greet"}, timestamp=1020))
        again.update(ActionExecuted("action_listen", timestamp=1021))
        run(ts.save(again))

        # Nothing reached the database; the spool holds it, encrypted.
        files = sorted(spool.glob("*.rec"))
        assert len(files) == 2
        assert all(b"amber-kettle" not in f.read_bytes() for f in files)
        assert all(ref.encode() not in f.read_bytes() for f in files)

        # Restarted during the outage: the conversation is not in memory, and Rasa's
        # wrapper must not start a new one over it.
        fresh = EncryptedSQLTrackerStore(domain, store=store, spool_dir=spool)
        with Outage(fresh):
            with pytest.raises(ConversationUnavailable):
                run(fresh.retrieve(ref))
            with pytest.raises(ConversationUnavailable):
                run(FailSafeTrackerStore(fresh).retrieve(ref))
    assert rows_of(store, ref) == before

    # Back: the next read inserts the spooled events first, in order, each once.
    kept = files[0].read_bytes()
    back = run(ts.retrieve(ref))
    assert back.latest_message.text == "hello again"
    after = rows_of(store, ref)
    assert [seq for seq, _s, _t in after] == list(range(len(before) + 5))
    assert {session for _seq, session, _t in after[1:]} == {1}
    assert not list(spool.glob("*.rec"))

    # A crash between "inserted" and "removed": the same file replayed stores nothing twice.
    files[0].write_bytes(kept)
    assert ts.replay_all() == 0
    assert rows_of(store, ref) == after and not list(spool.glob("*.rec"))

    # And what a fresh process reads is the whole conversation, the note where it was said.
    loaded = run(EncryptedSQLTrackerStore(domain, store=store, spool_dir=spool).retrieve(ref))
    texts = [e.text for e in loaded.events if isinstance(e, UserUttered)]
    assert texts == ["hello", NOTE, "hello again"]
    shutil.rmtree(spool)


def test_a_turn_that_failed_before_saving_is_not_served_from_memory(store, clinic, domain, tmp_path):
    ref = clinic[2]
    ts = EncryptedSQLTrackerStore(domain, store=store, spool_dir=tmp_path / "events")
    tracker = DialogueStateTracker(ref, domain.slots)
    tracker.update(ActionExecuted("action_listen", timestamp=1))
    run(ts.save(tracker))
    half = run(ts.retrieve(ref))
    half.update(UserUttered("never saved", timestamp=2))  # the turn failed before Rasa saved
    with Outage(ts):
        served = run(ts.retrieve(ref))
    assert [e.text for e in served.events if isinstance(e, UserUttered)] == []


def test_a_new_conversation_is_in_memory_after_its_first_turn(store, clinic, domain, tmp_path):
    """Rasa creates a new conversation's tracker empty and saves it before the first turn; the
    turn's save must not take that for another writer (and drop it from memory)."""
    ref = clinic[2]
    ts = FailSafeTrackerStore(EncryptedSQLTrackerStore(domain, store=store, spool_dir=tmp_path / "e"))
    tracker = run(ts.get_or_create_tracker(ref, append_action_listen=False))  # as Rasa's processor
    for e in (
        ActionExecuted("action_session_start", timestamp=1),
        SessionStarted(timestamp=1),
        ActionExecuted("action_listen", timestamp=1),
        UserUttered("hello", {"name": "greet"}, timestamp=2),
        ActionExecuted("action_listen", timestamp=3),
    ):
        tracker.update(e)
    run(ts.save(tracker))
    with Outage(ts._tracker_store):
        during = run(ts.retrieve(ref))
    assert during is not None and during.latest_message.text == "hello"
