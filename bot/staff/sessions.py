"""Storage for server-side portal sessions (OWASP ASVS V3).

The browser holds only a random session id; rows are keyed
by its SHA-256. A session ends when its row is deleted: at sign-out, when the person signs out
everywhere, when their password changes (their other sessions), when their account is
disabled or an admin ends their sessions, and after IDLE_SECONDS without a request or
MAX_AGE_SECONDS in any case.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.models import (
    PortalSession,
)

#: Sessions end after this long without a request, and after MAX_AGE in any case.
IDLE_SECONDS = 30 * 60


MAX_AGE_SECONDS = 8 * 60 * 60


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionRecord:
    staff_id: int | None
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    """One open session as its owner sees it under Account."""

    key: str  # the row's hash: names the session in a form without revealing the cookie
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    current: bool


def end_sessions_in(s: Any, staff_id: int, *, keep: str = "") -> int:
    query = delete(PortalSession).where(PortalSession.staff_id == staff_id)
    if keep:
        query = query.where(PortalSession.id_hash != session_hash(keep))
    return s.execute(query).rowcount


class PortalSessionRepo(Repo):
    """Portal sessions, server-side."""

    def _expired_clause(self, now: datetime):  # type: ignore[no-untyped-def]
        return or_(
            PortalSession.last_seen_at < now - timedelta(seconds=IDLE_SECONDS),
            PortalSession.created_at < now - timedelta(seconds=MAX_AGE_SECONDS),
        )

    def session_create(self, data: dict[str, Any], *, user_agent: str = "") -> str:
        """A new session holding `data`; returns its random id (for the cookie only). Expired
        sessions are purged here, so the table stays as small as the open sessions."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with transaction(self._factory) as s:
            s.execute(delete(PortalSession).where(self._expired_clause(now)))
            s.add(
                PortalSession(
                    id_hash=session_hash(session_id),
                    staff_id=data.get("staff_id"),
                    data=json.dumps(data),
                    user_agent=user_agent[:200] or None,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session_id

    def session_load(self, session_id: str) -> SessionRecord | None:
        """The session, or None: unknown, ended, idle too long or too old (then deleted)."""
        now = self._clock()
        with transaction(self._factory) as s:
            row = s.get(PortalSession, session_hash(session_id))
            if row is None:
                return None
            too_idle = now - row.last_seen_at > timedelta(seconds=IDLE_SECONDS)
            too_old = now - row.created_at > timedelta(seconds=MAX_AGE_SECONDS)
            if too_idle or too_old:
                s.delete(row)
                return None
            return SessionRecord(row.staff_id, json.loads(row.data), row.created_at, row.last_seen_at)

    def session_save(self, session_id: str, data: dict[str, Any]) -> bool:
        """Store `data` and mark the session seen now; False if it ended meanwhile (it is not
        brought back: an ended session stays ended)."""
        with transaction(self._factory) as s:
            row = s.get(PortalSession, session_hash(session_id))
            if row is None:
                return False
            row.data = json.dumps(data)
            row.staff_id = data.get("staff_id")
            row.last_seen_at = self._clock()
            return True

    def session_delete(self, session_id: str) -> None:
        with transaction(self._factory) as s:
            s.execute(delete(PortalSession).where(PortalSession.id_hash == session_hash(session_id)))

    def sessions_of(self, staff_id: int, current_id: str = "") -> list[SessionInfo]:
        """A person's own open sessions, newest activity first."""
        now = self._clock()
        current = session_hash(current_id) if current_id else ""
        with transaction(self._factory) as s:
            rows = (
                s.execute(
                    select(PortalSession)
                    .where(PortalSession.staff_id == staff_id)
                    .order_by(PortalSession.last_seen_at.desc())
                )
                .scalars()
                .all()
            )
            return [
                SessionInfo(r.id_hash, r.created_at, r.last_seen_at, r.user_agent or "", r.id_hash == current)
                for r in rows
                if now - r.last_seen_at <= timedelta(seconds=IDLE_SECONDS)
                and now - r.created_at <= timedelta(seconds=MAX_AGE_SECONDS)
            ]

    def end_sessions(self, staff_id: int, *, keep: str = "", reason: str, actor: str | None = None) -> int:
        """End a person's sessions, all or all but `keep` (a session id); returns how many.
        Audited with the reason (sign_out_everywhere, password_change, disabled, admin)."""
        with transaction(self._factory) as s:
            n = end_sessions_in(s, staff_id, keep=keep)
            self._audit(
                s,
                actor or f"staff:{staff_id}",
                "sessions.end",
                origin="portal",
                detail={"staff_id": staff_id, "n": n, "reason": reason},
            )
            return n
