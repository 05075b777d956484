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

Configured in endpoints.yml:  tracker_store: {type: bot.rasa_ext.tracker_store.EncryptedSQLTrackerStore}
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bot import runtime
from bot.store.models import RasaEvent

logger = logging.getLogger(__name__)

PREFIX = "enc1:"
_MARK = "_interlude_stored"  # attribute set on trackers this store loaded or saved


class TrackerStoreError(RuntimeError):
    """Raised instead of ImportError/AttributeError, which Rasa would swallow by silently
    falling back to an in-memory store."""


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
        try:
            store = store or runtime.store()
            self.engine = store.engine
            self.sessionmaker = sessionmaker(bind=self.engine, future=True)
            self._store = store
        except (ImportError, AttributeError) as exc:
            raise TrackerStoreError(f"Encrypted tracker store could not start: {exc}") from exc
        TrackerStore.__init__(self, domain, event_broker, **kwargs)
        self._cache: OrderedDict[str, DialogueStateTracker] = OrderedDict()

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
        was saved, so a message in a busy conversation decrypts and replays nothing."""
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
            del self._cache[sender_id]  # changed elsewhere, or a turn failed before saving
        tracker = self._load(sender_id, all_sessions=False)
        if tracker is not None:
            self._remember(sender_id, tracker)
        return tracker

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
        return self._store.decrypt_conversation(sender_id, data[len(PREFIX) :])

    # ------------------------------------------------------------------ writes
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the tracker's events that are not stored yet, each as its own encrypted row."""
        await self.stream_events(tracker)
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
            elif stored.last_seq != (-1 if last_seq is None else last_seq):  # -1: saved empty
                # Someone else appended since this tracker was loaded (Rasa's lock store should
                # prevent it): keep both, this tracker's new events after theirs.
                logger.warning("conversation %s changed while a message was handled", sender_id)
                keep = False  # this tracker lacks the other writer's events
                stored = _Stored(stored.count, -1 if last_seq is None else last_seq, session_no or 0)
            seq, session = stored.last_seq, stored.session_no
            for event in events[stored.count :]:
                data = event.as_dict()
                seq += 1
                if event.type_name == SessionStarted.type_name:
                    session += 1
                s.add(
                    RasaEvent(
                        sender_id=sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=PREFIX + self._store.encrypt_conversation(sender_id, json.dumps(data)),
                        seq=seq,
                        session_no=session,
                    )
                )
            s.commit()
        setattr(tracker, _MARK, _Stored(len(events), seq, session))
        if session != stored.session_no:
            keep = False  # a session began in this tracker: the next load reads only that session
        if keep:
            self._remember(sender_id, tracker)
        else:
            self._cache.pop(sender_id, None)
