"""Portal sign-in: argon2 passwords, throttling, idle-expiring sessions, CSRF tokens.

Sessions are server-side (bot/web/portal/sessions.py): the cookie holds a random id only
(HttpOnly, SameSite=Lax, Secure behind https); the session holds the staff id, a CSRF token
and timestamps, never patient data. Signing in gives the session a new id. Every form carries
the CSRF token and every POST checks it. Failed sign-ins are counted per e-mail and per client
address; past the limit, sign-in is refused for a while (429).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.staff.sessions import IDLE_SECONDS, MAX_AGE_SECONDS
from bot.web.portal.sessions import rotate

__all__ = ["IDLE_SECONDS", "MAX_AGE_SECONDS"]
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60


class Throttle:
    """Counts failed sign-ins per key (e-mail, client address) in a sliding window."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked_for(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until a sign-in may be tried again (0: now)."""
        now = time.monotonic() if now is None else now
        waits = [
            self.window - (now - q[0]) for q in (self._recent(k, now) for k in keys) if len(q) >= self.limit
        ]
        return max(waits, default=0.0)

    def fail(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in keys:
            self._recent(key, now).append(now)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_ok(request: Request, form: Any) -> bool:
    expected = request.session.get("csrf") or ""
    given = str(form.get("csrf") or "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def current_staff_id(request: Request) -> int | None:
    """The signed-in staff id, or None (an idle or too-old session is cleared)."""
    session = request.session
    staff_id, seen, started = session.get("staff_id"), session.get("seen", 0), session.get("started", 0)
    now = time.time()
    if not staff_id:
        return None
    if now - seen > IDLE_SECONDS or now - started > MAX_AGE_SECONDS:
        session.clear()
        session["expired"] = True
        return None
    session["seen"] = now
    return int(staff_id)


def sign_in(request: Request, staff_id: int, stamp: str = "") -> None:
    """Start a signed-in session. `stamp` is the account's credential stamp: when the password
    changes, sessions carrying the old stamp end (checked on every request by the portal)."""
    request.session.clear()
    rotate(request)  # a new session id: an id planted before sign-in is worth nothing
    now = time.time()
    request.session.update(
        {"staff_id": staff_id, "seen": now, "started": now, "csrf": secrets.token_urlsafe(24), "stamp": stamp}
    )


Handler = Callable[[Request], Awaitable[Response]]


def login_required(handler: Callable[[Request, int], Awaitable[Response]]) -> Handler:
    async def wrapped(request: Request) -> Response:
        staff_id = current_staff_id(request)
        if staff_id is None:
            return RedirectResponse(f"/portal/login?next={request.url.path}", status_code=303)
        return await handler(request, staff_id)

    return wrapped
