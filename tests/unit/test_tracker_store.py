"""The encrypted tracker store: one encrypted row per event, the current session only, and the
0015 migration that numbers existing conversations (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select

from bot.rasa_ext.tracker_store import EncryptedSQLTrackerStore
from bot.store import migrate
from bot.store.models import RasaEvent

ROOT = Path(__file__).resolve().parents[2]
SECRET = "violet-lantern-7731 is what I told nobody"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def first_session(ts: float) -> list:
    return [
        ActionExecuted("action_session_start", timestamp=ts),
        SessionStarted(timestamp=ts),
        ActionExecuted("action_listen", timestamp=ts),
        UserUttered(SECRET, {"name": "greet"}, timestamp=ts + 1),
        SlotSet("prompt_set", "daily", timestamp=ts + 2),
        SlotSet("prompt_index", 2.0, timestamp=ts + 2),
        SlotSet("handoff_active", True, timestamp=ts + 2),
        ActiveLoop("prompt_set_form", timestamp=ts + 2),
        BotUttered("How did you sleep?", timestamp=ts + 3),
        ActionExecuted("action_listen", timestamp=ts + 3),
    ]


def second_session(ts: float) -> list:
    """What actions/session.py returns after the expiry, then the patient's next message."""
    return [
        ActionExecuted("action_session_start", timestamp=ts),
        SessionStarted(timestamp=ts),
        SlotSet("prompt_set", "daily", timestamp=ts),
        SlotSet("prompt_index", 2.0, timestamp=ts),
        SlotSet("handoff_active", True, timestamp=ts),
        ActiveLoop("prompt_set_form", timestamp=ts),
        ActionExecuted("action_listen", timestamp=ts),
        UserUttered("slept fine, second session", {"name": "inform"}, timestamp=ts + 1),
    ]


def test_each_event_is_one_encrypted_row_and_only_the_current_session_loads(
    store, clinic, domain, database_url
):
    ref = clinic[2]
    ts = EncryptedSQLTrackerStore(domain, store=store)
    tracker = DialogueStateTracker(ref, domain.slots)
    for e in first_session(1000.0):
        tracker.update(e)
    run(ts.save(tracker))
    with store.core.factory() as s:
        rows = (
            s.execute(select(RasaEvent).where(RasaEvent.sender_id == ref).order_by(RasaEvent.id))
            .scalars()
            .all()
        )
    assert len(rows) == len(tracker.events) == 10
    assert [r.seq for r in rows] == list(range(10))
    assert all(r.data.startswith("enc1:") and "violet" not in r.data for r in rows)

    # Rasa reloads the tracker, the session expires, and the same object is saved again.
    loaded = run(ts.retrieve(ref))
    assert [e.as_dict() for e in loaded.events] == [e.as_dict() for e in tracker.events][1:]
    for e in second_session(30_000.0):
        loaded.update(e)
    run(ts.save(loaded))

    current = run(ts.retrieve(ref))
    assert isinstance(current.events[0], SessionStarted)
    assert len(current.events) == 7  # the second session only
    assert current.get_slot("prompt_index") == 2.0 and current.get_slot("handoff_active") is True
    assert current.active_loop_name == "prompt_set_form"
    full = run(ts.retrieve_full_tracker(ref))
    assert len(full.events) == 18
    assert [u.text for u in full.events if isinstance(u, UserUttered)] == [
        SECRET,
        "slept fine, second session",
    ]

    # The web chat's history on reload reaches across sessions, newest messages only.
    recent = ts.recent_messages(ref, 2)
    assert [e.text for e in recent] == ["How did you sleep?", "slept fine, second session"]

    # The transcript reads every session through the store, not through Rasa.
    with store.core.factory() as s:
        texts = [event.get("text") for _e, event in store.core.messages(s, ref)]
    assert texts == [SECRET, "How did you sleep?", "slept fine, second session"]

    # No plaintext at rest: neither in the SQLite file nor in a pg_dump.
    if database_url.startswith("sqlite"):
        store.core.engine.dispose()
        raw = b"".join(
            p.read_bytes() for p in Path(database_url.removeprefix("sqlite:///")).parent.glob("interlude.db*")
        )
    else:
        raw = subprocess.run(["pg_dump", database_url], check=True, capture_output=True).stdout
    assert b"violet-lantern" not in raw and b"second session" not in raw
    assert b"enc1:" in raw


def test_a_second_writer_cannot_interleave_a_conversation(store, clinic, domain):
    ref = clinic[2]
    ts, replica = EncryptedSQLTrackerStore(domain, store=store), EncryptedSQLTrackerStore(domain, store=store)
    a = DialogueStateTracker(ref, domain.slots)
    a.update(ActionExecuted("action_listen"))
    run(ts.save(a))
    b, c = run(ts.retrieve(ref)), run(replica.retrieve(ref))
    b.update(UserUttered("from b"))
    run(ts.save(b))
    c.update(UserUttered("from c"))
    run(ts.save(c))  # c's view is stale: its new event is appended after b's, never over it
    full = run(ts.retrieve_full_tracker(ref))
    assert [e.text for e in run(ts.retrieve(ref)).events if isinstance(e, UserUttered)] == [
        "from b",
        "from c",
    ]
    with store.core.factory() as s:
        seqs = list(
            s.execute(
                select(RasaEvent.seq).where(RasaEvent.sender_id == ref).order_by(RasaEvent.id)
            ).scalars()
        )
    assert seqs == sorted(set(seqs))
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["from b", "from c"]


def test_migration_numbers_existing_conversations_without_loss(store, clinic, domain, database_url):
    ref = clinic[2]
    ts = EncryptedSQLTrackerStore(domain, store=store)
    tracker = DialogueStateTracker(ref, domain.slots)
    for e in first_session(1000.0) + second_session(30_000.0):
        tracker.update(e)
    other = DialogueStateTracker("not-a-patient", domain.slots)
    other.update(ActionExecuted("action_listen"))
    other.update(UserUttered("hello from elsewhere"))
    run(ts.save(tracker))
    run(ts.save(other))
    before = [e.as_dict() for e in run(ts.retrieve_full_tracker(ref)).events]

    # Back to the schema before 0015 (the rows stay, unnumbered), then forward again.
    store.core.engine.dispose()
    migrate.downgrade(database_url, "0008")
    migrate.upgrade(database_url)

    with store.core.factory() as s:
        rows = s.execute(
            select(RasaEvent.sender_id, RasaEvent.seq, RasaEvent.session_no).order_by(RasaEvent.id)
        ).all()
    mine = [(seq, session) for sender, seq, session in rows if sender == ref]
    assert [seq for seq, _ in mine] == list(range(18))
    assert [session for _, session in mine] == [0] + [1] * 10 + [
        2
    ] * 7  # action_session_start precedes its session_started
    assert [(seq, session) for sender, seq, session in rows if sender == "not-a-patient"] == [(0, 0), (1, 0)]
    assert [e.as_dict() for e in run(ts.retrieve_full_tracker(ref)).events] == before
    assert len(run(ts.retrieve(ref)).events) == 7
    assert [e.text for e in run(ts.retrieve("not-a-patient")).events if isinstance(e, UserUttered)] == [
        "hello from elsewhere"
    ]


def test_the_last_saved_tracker_is_reused_only_while_it_is_what_the_database_holds(store, clinic, domain):
    ref = clinic[2]
    ts, replica = EncryptedSQLTrackerStore(domain, store=store), EncryptedSQLTrackerStore(domain, store=store)
    tracker = DialogueStateTracker(ref, domain.slots)
    for e in first_session(1000.0):
        tracker.update(e)
    run(ts.save(tracker))
    tracker = run(ts.retrieve(ref))  # as Rasa does for the next message
    tracker.update(UserUttered("a second message", timestamp=1010.0))
    run(ts.save(tracker))

    decrypted = []
    original = store.vault.decrypt_conversation

    def counting(sender_id, token):  # type: ignore[no-untyped-def]
        decrypted.append(token)
        return original(sender_id, token)

    store.vault.decrypt_conversation = counting
    again = run(ts.retrieve(ref))
    assert again is tracker and decrypted == []  # nothing decrypted, nothing replayed

    # A turn that failed before saving leaves unsaved events: they are not served again.
    again.update(UserUttered("never saved"))
    reloaded = run(ts.retrieve(ref))
    assert reloaded is not again and "never saved" not in [getattr(e, "text", None) for e in reloaded.events]
    assert len(decrypted) == 10  # the session (9 events from session_started on) and the second message

    # Another replica appends: this one reloads and sees it.
    other = run(replica.retrieve(ref))
    other.update(UserUttered("from the other replica"))
    run(replica.save(other))
    seen = run(ts.retrieve(ref))
    assert seen is not reloaded and seen.latest_message.text == "from the other replica"
