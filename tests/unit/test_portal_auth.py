"""Portal sign-in rules that need no server: throttling windows and session expiry."""

from __future__ import annotations

import time
from types import SimpleNamespace

from bot.web.portal.auth import IDLE_SECONDS, MAX_AGE_SECONDS, Throttle, current_staff_id, sign_in


def test_throttle_blocks_after_the_limit_and_forgets_after_the_window():
    t = Throttle(limit=3, window=100.0)
    for at in (0.0, 1.0, 2.0):
        assert t.blocked_for(["email:a"], now=at) == 0
        t.fail(["email:a"], now=at)
    assert t.blocked_for(["email:a"], now=3.0) == 97.0  # until the first failure leaves the window
    assert t.blocked_for(["email:b"], now=3.0) == 0
    assert t.blocked_for(["email:a"], now=101.0) == 0  # the first failure has left the window
    t.fail(["email:a"], now=101.0)
    t.succeed("email:a")
    assert t.blocked_for(["email:a"], now=102.0) == 0


def test_sessions_end_when_idle_or_too_old():
    request = SimpleNamespace(session={"csrf": "old-token", "staff_id": 9})
    sign_in(request, 7)
    assert request.session["staff_id"] == 7 and request.session["csrf"] != "old-token"  # fresh state
    assert current_staff_id(request) == 7
    request.session["seen"] = time.time() - IDLE_SECONDS - 1
    assert current_staff_id(request) is None and request.session == {"expired": True}
    sign_in(request, 7)
    request.session["started"] = time.time() - MAX_AGE_SECONDS - 1
    assert current_staff_id(request) is None
