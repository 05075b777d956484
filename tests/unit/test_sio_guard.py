"""Malformed socket.io polling traffic is recognised before python-engineio handles it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.sio_guard import problem_with

SESSIONS = {"abc"}


def test_well_formed_packets_pass():
    assert problem_with("POST", "EIO=4&transport=polling&sid=abc", b"40", SESSIONS) is None
    assert problem_with("POST", "sid=abc", b'42["user_uttered",{"message":"hi"}]', SESSIONS) is None
    assert problem_with("POST", "sid=abc", b"2\x1e3", SESSIONS) is None  # ping, pong
    assert problem_with("GET", "EIO=4&transport=polling", b"", SESSIONS) is None  # a handshake


def test_malformed_requests_are_named():
    assert problem_with("POST", "EIO=4&transport=polling", b"40", SESSIONS) == "a POST needs a session id"
    assert problem_with("POST", "sid=nope", b"40", SESSIONS) == "unknown session"
    assert "malformed" in problem_with("POST", "sid=abc", b"\xff\xfe garbage", SESSIONS)
    assert "malformed" in problem_with("POST", "sid=abc", b'42["user_uttered"', SESSIONS)
    assert problem_with("POST", "sid=abc", b"4299999999999999999999", SESSIONS) == "an event without a name"
    assert problem_with("POST", "sid=abc", b"42[7]", SESSIONS) == "an event without a name"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_body_is_either_refused_or_decodable(body):
    """Whatever bytes arrive, the guard never raises; what it lets through decodes."""
    from engineio import payload

    why = problem_with("POST", "sid=abc", body, SESSIONS)
    if why is None:
        payload.Payload(encoded_payload=body.decode("utf-8"))
