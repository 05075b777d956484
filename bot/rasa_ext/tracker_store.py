"""Rasa's tracker store on Interlude's `events` table: one encrypted row per event, appended.

It shares Interlude's database and engine settings (SQLite WAL + busy timeout, or PostgreSQL),
and Alembic owns the table. The columns Rasa queries by (sender, type, timestamp, intent and
action names) stay in the clear; `data`, which holds the patient's words, is encrypted with that
patient's data key, so deleting the patient's key shreds the transcript.

Why not Rasa's SQLTrackerStore: it finds the current session by timestamp and counts the
session's rows on every save. Here every row carries its place in the conversation (`seq`) and
its session (`session_no`), so a message reads and decrypts only its own session's events, and
a save appends the new events after the ones it loaded (a unique (sender, seq) index refuses a
second writer instead of interleaving two). Sessions end after the domain's
`session_expiration_time`; earlier sessions stay stored for the portal's transcript and the
exports, which read them through bot.store, never through a Rasa tracker.

While the database is unreachable (issue #20) a conversation goes on from memory: the last
tracker of each conversation (a few hundred, least recently used out) is served as it is, and
each save's new events go to an encrypted local spool (bot/store/event_spool.py) with the seq
they will have. They are inserted, exactly once (idempotent by seq), before anything else is
read or written for that conversation once the database answers again, and a background thread
replays conversations nobody writes to. A conversation not in memory (after a restart during
the outage, say) cannot be read: retrieve raises ConversationUnavailable, which Rasa's
fail-safe wrapper is made to pass on (instead of starting a fresh conversation over the old
one), and the channel answers on its own: crisis resources for risky words, an honest "send it
again in a few minutes" otherwise.

Configured in endpoints.yml:  tracker_store: {type: bot.rasa_ext.tracker_store.EncryptedSQLTrackerStore}
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import FailSafeTrackerStore, SerializedTrackerAsText, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import func, insert, select
from sqlalchemy.orm import sessionmaker

from bot import runtime
from bot.checkins.saving import UNAVAILABLE
from bot.store.event_spool import EventSpool
from bot.store.models import RasaEvent

logger = logging.getLogger(__name__)

PREFIX = "enc1:"
_MARK = "_interlude_stored"  # attribute set on trackers this store loaded or saved


class TrackerStoreError(RuntimeError):
    """Raised instead of ImportError/AttributeError, which Rasa would swallow by silently
    falling back to an in-memory store."""


class ConversationUnavailable(RuntimeError):
    """The database is unreachable and this conversation is not in memory: it cannot go on now."""


_failsafe_retrieve_error = FailSafeTrackerStore.on_tracker_store_retrieve_error


def _pass_on_unavailable(self: FailSafeTrackerStore, error: Exception) -> None:
    # Rasa's wrapper turns any retrieve error into "no tracker", and Rasa then starts a new
    # conversation (onboarding, consent) over the patient's real one. Called inside its
    # `except`, so raising here reaches the channel, which answers honestly.
    if isinstance(error, ConversationUnavailable):
        raise error
    _failsafe_retrieve_error(self, error)


FailSafeTrackerStore.on_tracker_store_retrieve_error = _pass_on_unavailable  # type: ignore[method-assign]


@dataclass
class _Stored:
    """What the database holds of a tracker: how many of its events, the last seq, the session."""

    count: int
    last_seq: int
    session_no: int


class EncryptedSQLTrackerStore(TrackerStore, SerializedTrackerAsText):
    CACHE_SIZE = 256  # conversations whose last saved tracker is kept in memory

    def __init__(
        self,
        domain: Domain | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("host", None)  # Rasa passes the endpoint url as host; ours comes from settings
        store = kwargs.pop("store", None)  # tests pass a Store; Rasa never does
        # Tests pass their own spool folder and replay by hand; Rasa's uses <data>/spool/events.
        spool_dir = kwargs.pop("spool_dir", None)
        replay_every = float(kwargs.pop("replay_every", 0.0 if store else 5.0))  # 0: none
        given = store is not None
        try:
            store = store or runtime.store()
            self.engine = store.core.engine
            self.sessionmaker = sessionmaker(bind=self.engine, future=True)
            self._store = store
            if spool_dir:
                directory = Path(spool_dir)
            elif given:
                directory = Path(tempfile.mkdtemp(prefix="interlude-events-"))
            else:
                directory = runtime.settings().data_dir / "spool" / "events"
            self._spool = EventSpool(directory, store.vault.keyring)
        except (ImportError, AttributeError) as exc:
            raise TrackerStoreError(f"Encrypted tracker store could not start: {exc}") from exc
        TrackerStore.__init__(self, domain, event_broker, **kwargs)
        self._cache: OrderedDict[str, DialogueStateTracker] = OrderedDict()
        self._new: OrderedDict[str, None] = OrderedDict()
        self._replaying = threading.Lock()  # the event loop and the background replay
        if replay_every > 0:
            threading.Thread(
                target=self._replay_loop, args=(replay_every,), name="event-replay", daemon=True
            ).start()

    # ------------------------------------------------------------------ reads
    async def keys(self) -> Iterable[str]:
        with self.sessionmaker() as s:
            return list(s.execute(select(RasaEvent.sender_id).distinct()).scalars())

    async def exists(self, conversation_id: str) -> bool:
        with self.sessionmaker() as s:
            found = s.execute(select(RasaEvent.id).where(RasaEvent.sender_id == conversation_id).limit(1))
            return found.first() is not None

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The current session only: what Rasa needs to answer the next message.

        The tracker Rasa saved last is kept in memory (a few hundred conversations) and given
        back while the database shows nobody appended since and the tracker holds exactly what
        was saved, so a message in a busy conversation decrypts and replays nothing. With the
        database unreachable, that tracker is all there is (see the module)."""
        try:
            return self._retrieve(sender_id)
        except UNAVAILABLE as exc:
            cached = self._cache.get(sender_id)
            if cached is None or self.domain is None:
                logger.error("conversation %s is not in memory and the database is unreachable", sender_id)
                raise ConversationUnavailable(type(exc).__name__) from exc
            stored: _Stored = getattr(cached, _MARK)
            logger.warning("database unreachable: conversation %s goes on from memory", sender_id)
            self._cache.move_to_end(sender_id)
            if len(cached.events) == stored.count:
                return cached
            # A turn changed it and failed before saving: back to what was saved.
            events = [e.as_dict() for e in list(cached.events)[: stored.count]]
            tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
            setattr(tracker, _MARK, stored)
            self._cache[sender_id] = tracker
            return tracker

    def _retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        self._replay(sender_id)  # events kept during an outage go in first, in order
        cached = self._cache.get(sender_id)
        if cached is not None:
            stored: _Stored = getattr(cached, _MARK)
            if len(cached.events) == stored.count:
                with self.sessionmaker() as s:
                    last_seq = s.execute(
                        select(func.max(RasaEvent.seq)).where(RasaEvent.sender_id == sender_id)
                    ).scalar_one()
                if last_seq == stored.last_seq:
                    self._cache.move_to_end(sender_id)
                    return cached
        # Changed elsewhere, or a turn failed before saving: load. (Kept until the load
        # succeeds: with the database away it is all there is.)
        tracker = self._load(sender_id, all_sessions=False)
        self._cache.pop(sender_id, None)
        if tracker is None:
            self._remember_new(sender_id)
        if tracker is not None:
            self._remember(sender_id, tracker)
        return tracker

    def _remember_new(self, sender_id: str) -> None:
        """A conversation the database held nothing of (SQLite can be readable but not
        writable): if it cannot be saved, it starts in the spool at seq 0."""
        self._new[sender_id] = None
        while len(self._new) > self.CACHE_SIZE:
            self._new.popitem(last=False)

    def _remember(self, sender_id: str, tracker: DialogueStateTracker) -> None:
        self._cache[sender_id] = tracker
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return self._load(conversation_id, all_sessions=True)

    def _load(self, sender_id: str, *, all_sessions: bool) -> DialogueStateTracker | None:
        query = select(RasaEvent.seq, RasaEvent.session_no, RasaEvent.data).where(
            RasaEvent.sender_id == sender_id
        )
        if not all_sessions:
            current = (
                select(func.max(RasaEvent.session_no))
                .where(RasaEvent.sender_id == sender_id)
                .scalar_subquery()
            )
            query = query.where(RasaEvent.session_no == current)
        with self.sessionmaker() as s:
            rows = s.execute(query.order_by(RasaEvent.seq)).all()
        if not rows or not self.domain:
            return None
        events = [json.loads(self._open(sender_id, data)) for _seq, _session, data in rows]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, _MARK, _Stored(len(rows), rows[-1][0], rows[-1][1]))
        return tracker

    def recent_messages(self, sender_id: str, limit: int) -> list[Event]:
        """The last `limit` user and bot events of the conversation, across sessions, oldest
        first: what the web chat shows on reload, without loading the whole history."""
        with self.sessionmaker() as s:
            rows = s.execute(
                select(RasaEvent.data)
                .where(RasaEvent.sender_id == sender_id, RasaEvent.type_name.in_(("user", "bot")))
                .order_by(RasaEvent.seq.desc())
                .limit(limit)
            ).scalars()
            datas = list(rows)
        return [Event.from_parameters(json.loads(self._open(sender_id, d))) for d in reversed(datas)]

    def _open(self, sender_id: str, data: str | None) -> str:
        if not data or not data.startswith(PREFIX):
            raise TrackerStoreError(f"An unencrypted event was found for {sender_id}; refusing to load it.")
        return self._store.vault.decrypt_conversation(sender_id, data[len(PREFIX) :])

    # ------------------------------------------------------------------ writes
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the tracker's events that are not stored yet, each as its own encrypted row;
        to the event spool while the database is unreachable."""
        await self.stream_events(tracker)
        try:
            self._replay(tracker.sender_id)
            self._save(tracker)
        except UNAVAILABLE as exc:
            logger.warning(
                "database unreachable (%s): events of %s spooled", type(exc).__name__, tracker.sender_id
            )
            self._save_to_spool(tracker)

    def _save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        events = list(tracker.events)
        with self.sessionmaker() as s:
            last_seq, session_no = s.execute(
                select(func.max(RasaEvent.seq), func.max(RasaEvent.session_no)).where(
                    RasaEvent.sender_id == sender_id
                )
            ).one()
            stored: _Stored | None = getattr(tracker, _MARK, None)
            # Worth keeping in memory: the tracker we handed out, or a brand-new conversation.
            keep = self._cache.get(sender_id) is tracker or (stored is None and last_seq is None)
            if stored is None:
                # A tracker we did not load (a new one, or one Rasa built itself): count what
                # the current session holds, as Rasa's own SQL store does.
                session_no = session_no or 0
                count = s.execute(
                    select(func.count(RasaEvent.id)).where(
                        RasaEvent.sender_id == sender_id, RasaEvent.session_no == session_no
                    )
                ).scalar_one()
                stored = _Stored(count, -1 if last_seq is None else last_seq, session_no)
            elif stored.last_seq != (-1 if last_seq is None else last_seq):  # -1: nothing stored yet
                # Someone else appended since this tracker was loaded (Rasa's lock store should
                # prevent it): keep both, this tracker's new events after theirs.
                logger.warning("conversation %s changed while a message was handled", sender_id)
                keep = False  # this tracker lacks the other writer's events
                stored = _Stored(stored.count, -1 if last_seq is None else last_seq, session_no or 0)
            rows = _rows(events[stored.count :], stored)
            if rows:  # one multi-row INSERT, not an ORM object and a statement per event
                s.execute(insert(RasaEvent), [self._event_row(sender_id, row) for row in rows])
            s.commit()
        self._new.pop(sender_id, None)
        seq = rows[-1]["seq"] if rows else stored.last_seq
        session = rows[-1]["session_no"] if rows else stored.session_no
        setattr(tracker, _MARK, _Stored(len(events), seq, session))
        if keep and session != stored.session_no and self.domain is not None:
            # A session began in this tracker: keep what a load would read (that session only),
            # so that the conversation is in memory should the database go away next.
            start = max(i for i, e in enumerate(events) if e.type_name == SessionStarted.type_name)
            current = DialogueStateTracker.from_dict(
                sender_id, [e.as_dict() for e in events[start:]], self.domain.slots
            )
            setattr(current, _MARK, _Stored(len(events) - start, seq, session))
            self._remember(sender_id, current)
        elif keep and session == stored.session_no:
            self._remember(sender_id, tracker)
        else:
            self._cache.pop(sender_id, None)

    # ------------------------------------------------------------------ outages
    def _event_row(self, sender_id: str, row: dict[str, Any]) -> dict[str, Any]:
        """The `events` row (column values) for one event, its data encrypted."""
        data = row["data"]
        return {
            "sender_id": sender_id,
            "type_name": data.get("event"),
            "timestamp": data.get("timestamp"),
            "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": PREFIX + self._store.vault.encrypt_conversation(sender_id, json.dumps(data)),
            "seq": row["seq"],
            "session_no": row["session_no"],
        }

    def _save_to_spool(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        stored: _Stored | None = getattr(tracker, _MARK, None)
        if stored is None and sender_id in self._new:
            stored = _Stored(0, -1, 0)  # the database held nothing of it when it was read
        if stored is None:
            # Not a tracker this store handed out or saved, so where its events go in the
            # conversation is unknown: Rasa's wrapper keeps it in memory instead.
            raise ConversationUnavailable("a tracker not loaded from this store")
        events = list(tracker.events)
        rows = _rows(events[stored.count :], stored)
        if rows:
            self._spool.put(sender_id, rows)
            setattr(tracker, _MARK, _Stored(len(events), rows[-1]["seq"], rows[-1]["session_no"]))
        # The only copy that can be read until the database is back; a new session begun in it
        # stays in it (the load after the outage is not needed: the seqs line up).
        self._remember(sender_id, tracker)

    def _replay(self, sender_id: str) -> int:
        """Insert the conversation's spooled events, oldest first; each file removed once its
        rows are committed. Idempotent by seq. Raises if the database is still unreachable."""
        if not self._spool.has(sender_id):
            return 0
        done = 0
        with self._replaying:
            for path in self._spool.files(sender_id):
                _sender, rows = self._spool.read(path)
                with self.sessionmaker() as s:
                    have = set(
                        s.execute(
                            select(RasaEvent.seq).where(
                                RasaEvent.sender_id == sender_id,
                                RasaEvent.seq.in_([r["seq"] for r in rows]),
                            )
                        ).scalars()
                    )
                    missing = [self._event_row(sender_id, r) for r in rows if r["seq"] not in have]
                    if missing:
                        s.execute(insert(RasaEvent), missing)
                        done += len(missing)
                    s.commit()
                path.unlink()
        if done:
            logger.info("saved %d event(s) of %s kept during a database outage", done, sender_id)
        return done

    def replay_all(self) -> int:
        """Replay every conversation's spooled events (the background thread; tests)."""
        return sum(self._replay(sender_id) for sender_id in list(self._spool.senders()))

    def _replay_loop(self, every: float) -> None:
        stop = threading.Event()
        while not stop.wait(every):
            try:
                self.replay_all()
            except UNAVAILABLE:
                pass  # still away; next round
            except Exception as exc:  # never let the replay thread die
                logger.error("event replay failed (%s)", type(exc).__name__)


def _rows(events: list[Event], stored: _Stored) -> list[dict[str, Any]]:
    """The new events as rows: each with its seq and session after what is stored."""
    seq, session = stored.last_seq, stored.session_no
    rows = []
    for event in events:
        seq += 1
        if event.type_name == SessionStarted.type_name:
            session += 1
        rows.append({"seq": seq, "session_no": session, "data": event.as_dict()})
    return rows
