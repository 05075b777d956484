"""The web app forwards exactly two paths to Rasa. Everything else, however it is spelled
(dot segments, percent- and double-encoding, backslashes, `;` parameters, doubled slashes),
is a 404 from the web app itself and never reaches the upstream."""

from __future__ import annotations

import pytest

ESCAPES = [
    "/socket.io/../version",
    "/socket.io/..%2fversion",
    "/socket.io/%2e%2e/version",
    "/socket.io/%2E%2E/version",
    "/socket.io/%252e%252e/version",
    "/socket.io/%252e%252e%252fversion",
    "/socket.io/..\\version",
    "/socket.io/..%5cversion",
    "/socket.io\\..\\version",
    "/socket.io/;/../version",
    "/socket.io/..;/version",
    "/socket.io;x=1/",
    "/socket.io//../version",
    "//socket.io/",
    "/socket.io/./",
    "/socket.io/%2f",
    "/socket.io/x",
    "/%73ocket.io/",
    "/socket.io/../conversations/pt_x/tracker?token=t",
    "/socket.io/%2e%2e/conversations/pt_x/tracker",
    "/socket.io/.%2e/webhooks/rest/webhook",
    "/telegram/webhook/../../version",
    "/telegram/webhook/",
    "/telegram/webhook;x",
    "/telegram/%2e%2e/version",
    "/telegram//webhook",
    "/telegram/webhook%2f..%2f..%2fversion",
]


@pytest.mark.parametrize("target", ESCAPES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_nothing_but_the_two_paths_reaches_rasa(web, upstream, target, method):
    before = len(upstream.seen)
    sep = "&" if "?" in target else "?"
    status, _, body = web.raw(method, f"{target}{sep}EIO=4&transport=polling", b"{}")
    assert status == 404, (target, status, body[:200])
    assert b"upstream" not in body
    assert len(upstream.seen) == before, upstream.seen[before:]


def test_the_exact_paths_are_forwarded(web, upstream):
    status, _, body = web.raw("GET", "/socket.io/?EIO=4&transport=polling&t=abc")
    assert status == 200 and b"upstream" in body
    assert upstream.seen[-1] == ("GET", "/socket.io/?EIO=4&transport=polling&t=abc")
    headers = {"content-type": "application/json", "x-telegram-bot-api-secret-token": "s"}
    status, _, body = web.raw("POST", "/telegram/webhook", b"{}", headers)
    assert status == 200 and upstream.seen[-1] == ("POST", "/webhooks/telegram/webhook")


def test_socketio_without_an_engineio_query_is_not_forwarded(web, upstream):
    before = len(upstream.seen)
    for target in ("/socket.io/", "/socket.io/?token=x", "/socket.io"):
        status, _, _ = web.raw("GET", target)
        assert status == 404, target
    assert len(upstream.seen) == before
