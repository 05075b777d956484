"""Rasa's SQL tracker store, encrypted: every event's JSON is stored as ciphertext.

It shares Interlude's database and engine settings (SQLite WAL + busy timeout, or PostgreSQL),
and Alembic owns its `events` table. The columns Rasa queries by (sender, type, timestamp,
intent and action names) stay in the clear; `data`, which holds the patient's words, is
encrypted with that patient's data key, so deleting the patient's key shreds the transcript.

Configured in endpoints.yml:  tracker_store: {type: bot.rasa_ext.tracker_store.EncryptedSQLTrackerStore}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import runtime

logger = logging.getLogger(__name__)

PREFIX = "enc1:"


class TrackerStoreError(RuntimeError):
    """Raised instead of ImportError/AttributeError, which Rasa would swallow by silently
    falling back to an in-memory store."""


class EncryptedSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Domain | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("host", None)  # Rasa passes the endpoint url as host; ours comes from settings
        try:
            store = runtime.store()
            # Same engine factory as the rest of Interlude (WAL, busy timeout, pool_pre_ping).
            self.engine = store.engine
            import sqlalchemy as sa

            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            self._store = store
        except (ImportError, AttributeError) as exc:
            raise TrackerStoreError(f"Encrypted tracker store could not start: {exc}") from exc
        TrackerStore.__init__(self, domain, event_broker, **kwargs)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            ).all()
            events = [json.loads(self._open(sender_id, row.data)) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _open(self, sender_id: str, data: str) -> str:
        if not data.startswith(PREFIX):
            raise TrackerStoreError(f"An unencrypted event was found for {sender_id}; refusing to load it.")
        return self._store.decrypt_conversation(sender_id, data[len(PREFIX) :])

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=PREFIX + self._store.encrypt_conversation(tracker.sender_id, json.dumps(data)),
                    )
                )
            session.commit()
