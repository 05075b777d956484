"""Server-side portal sessions as ASGI middleware.

The `interlude_session` cookie carries only a random id (HttpOnly, SameSite=Lax, Secure behind
https); what the portal keeps between requests (`request.session`: the CSRF token, the staff
id, timestamps) lives in the store's `portal_sessions` table, keyed by the id's SHA-256 (see
bot/staff/sessions.py). So:
- clearing `request.session` (sign-out) deletes the row: a copy of the cookie opens nothing;
- `rotate(request)` (sign-in, and after the password step of two-step sign-in) moves the state
  to a new id and deletes the old row, so an id planted before sign-in is worth nothing;
- a session whose row was deleted elsewhere (sign out everywhere, a password change, a
  disabled account, an admin) is simply unknown at the next request.
Nothing is stored for a visitor until the portal writes something (the sign-in form's token).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.runtime import Store
from bot.staff.sessions import MAX_AGE_SECONDS

COOKIE = "interlude_session"
STATE = "interlude.session"
#: secrets.token_urlsafe(32): anything else in the cookie is not looked up at all.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")


def rotate(request: Any) -> None:
    """Give this request's session a new id when the response is sent (the old one ends)."""
    state = getattr(request, "scope", {}).get(STATE)
    if state is not None:
        state["rotate"] = True


def session_id(request: Any) -> str:
    """The current session's id ("" if none yet): to keep it when ending the others."""
    state = getattr(request, "scope", {}).get(STATE)
    return (state or {}).get("id") or ""


class ServerSessionMiddleware:
    def __init__(self, app: ASGIApp, store: Callable[[], Store], https_only: bool = False) -> None:
        self.app = app
        self.store = store
        self.flags = "; path=/; HttpOnly; SameSite=lax" + ("; Secure" if https_only else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith("/portal"):
            # Only the portal has sessions; the chat and the widget never touch the store here.
            scope["session"], scope[STATE] = {}, None
            await self.app(scope, receive, send)
            return
        sid = HTTPConnection(scope).cookies.get(COOKIE, "")
        record = (
            await run_in_threadpool(self.store().portal_sessions.session_load, sid)
            if SESSION_ID.match(sid)
            else None
        )
        data: dict[str, Any] = dict(record.data) if record else {}
        if sid and record is None:
            data["expired"] = True  # the sign-in page says why it is showing
        before = json.dumps(data, sort_keys=True) if record else ""
        state: dict[str, Any] = {"id": sid if record else "", "rotate": False}
        scope["session"], scope[STATE] = data, state
        user_agent = HTTPConnection(scope).headers.get("user-agent", "")

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._commit(scope, message, before, state, user_agent, had_cookie=bool(sid))
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _commit(
        self,
        scope: Scope,
        message: Message,
        before: str,
        state: dict[str, Any],
        user_agent: str,
        had_cookie: bool,
    ) -> None:
        data = scope["session"]
        store = self.store()
        headers = MutableHeaders(scope=message)
        current = state["id"]
        if current and (not data or state["rotate"]):
            await run_in_threadpool(store.portal_sessions.session_delete, current)
        if data and (state["rotate"] or not current):
            new = await run_in_threadpool(
                lambda: store.portal_sessions.session_create(data, user_agent=user_agent)
            )
            state["id"] = new
            headers.append("Set-Cookie", f"{COOKIE}={new}; Max-Age={MAX_AGE_SECONDS}{self.flags}")
        elif data and json.dumps(data, sort_keys=True) != before:
            await run_in_threadpool(store.portal_sessions.session_save, current, data)
        elif not data and had_cookie:
            headers.append("Set-Cookie", f"{COOKIE}=; Max-Age=0{self.flags}")


def cookie_value(header: str) -> str:
    """The session id in a Set-Cookie header (for tests)."""
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    return jar[COOKIE].value if COOKIE in jar else ""
