"""Bad input on the running stack: a clear reply or refusal, never a 500, a traceback, or
another patient's turn."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
import socketio

from tests.reliability.conftest import post_raw, say

pytestmark = pytest.mark.integration

CRISIS_MARK = "988"  # the US crisis line, in every en-US crisis reply
RISKY = "I want to kill myself tonight"
FILLER = "Today I walked by the river and the light was soft on the water. "


def test_invalid_text_in_the_local_channel_is_answered_or_refused_clearly(rstack, patient):
    ref = patient()
    tried = handled = 0
    cases: list[tuple[bytes, set[int]]] = [
        (b'{"sender": "%s", "message": "hello \\ud800 there"}' % ref.encode(), {200}),  # lone surrogate
        (b'{"sender": "%s", "message": "\\udfff\\ud800"}' % ref.encode(), {200}),
        (b'{"sender": "%s", "message": "tab\\tnul\\u0000 bell\\u0007 ok"}' % ref.encode(), {200}),
        (b'{"sender": "%s", "message": "\\ud83d\\ude00"}' % ref.encode(), {200}),  # an escaped pair
        (b'{"sender": "pt_\\ud800", "message": "hi"}', {404}),
        (b'{"sender": "%s", "message": ""}' % ref.encode(), {400}),
        (b'{"sender": "%s", "message": 7}' % ref.encode(), {400}),
        (b'{"sender": "%s"}' % ref.encode(), {400}),
        (b"{not json", {400}),
        (b"[1, 2]", {400}),
        (b"\xff\xfe\x00", {400}),  # not UTF-8 at all
        (json.dumps({"sender": ref, "message": "x" * 98_000}).encode(), {413}),
    ]
    for body, expected in cases:
        tried += 1
        status, reply = post_raw(rstack, body)
        assert status in expected, (body[:80], status, reply)
        if status == 200:
            assert isinstance(reply, list) and reply, body[:80]  # a real answer
        else:
            assert isinstance(reply, dict) and reply.get("error"), (body[:80], reply)
        handled += 1
    print(f"local channel: {handled} of {tried} bad inputs handled cleanly")


def test_a_huge_risky_message_gets_crisis_resources_and_a_flag(rstack, rstore, patient):
    ref = patient()
    text = FILLER * 700 + RISKY + ". " + FILLER * 700  # about 98,000 characters
    started = time.monotonic()
    status, reply = say(rstack, ref, text)
    took = time.monotonic() - started
    assert status == 200 and CRISIS_MARK in reply, reply[:500]
    flags = [f for f in rstore.flags.list_flags(actor="test", origin="reliability") if f.patient_ref == ref]
    assert len(flags) == 1
    print(f"98,000-character risky message answered with resources in {took:.1f} s")


def test_a_long_message_never_holds_up_another_patients_turn(rstack, patient):
    slow, other = patient(), patient()
    say(rstack, slow, "hello")
    say(rstack, other, "hello")
    done: dict[str, float] = {}
    long_entry = (FILLER * 400)[:19_500]  # under the cap: answered, and parsed off the event loop

    def send_long() -> None:
        started = time.monotonic()
        status, _ = say(rstack, slow, long_entry)
        done["long"] = time.monotonic() - started
        done["long_status"] = status

    thread = threading.Thread(target=send_long)
    thread.start()
    time.sleep(0.3)  # the long one is being parsed now
    started = time.monotonic()
    status, reply = say(rstack, other, "hello")
    done["other"] = time.monotonic() - started
    other_done_at = time.monotonic()
    thread.join(180)
    assert status == 200 and reply
    assert done.get("long_status") == 200
    long_took, other_took = done["long"], done["other"]
    print(f"19,500-character message took {long_took:.1f} s; another patient's hello {other_took:.1f} s")
    # The other patient's turn did not wait for the long one.
    assert "long" not in done or other_done_at <= started + done["long"], done


def _http(method: str, url: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_malformed_socketio_traffic_is_refused_without_a_500_or_a_traceback(rstack):
    before = rstack.console.read_text(encoding="utf-8", errors="replace").count("Traceback")
    tried = handled = 0
    for base in (rstack.settings.rasa_url, rstack.settings.web_url):
        url = f"{base}/socket.io/?EIO=4&transport=polling"
        # A handshake for a real session, to send junk packets on.
        sid = None
        req = urllib.request.Request(url)
        with urllib.request.urlopen(req, timeout=30) as resp:
            handshake = resp.read().decode()
            sid = json.loads(handshake[handshake.index("{") :])["sid"]
        probes = [
            ("POST", url, b"40"),  # no sid
            ("GET", url + "&sid=not-a-session", None),
            ("POST", url + "&sid=not-a-session", b"40"),
            ("POST", url + f"&sid={sid}", b"\xff\xfe garbage"),
            ("POST", url + f"&sid={sid}", b'42["user_uttered"'),
            ("POST", url + f"&sid={sid}", b"4299999999999999999999"),
            ("POST", url + f"&sid={sid}", b'42["user_uttered",{"message":"hi"}]'),  # before connect
            ("POST", f"{base}/socket.io/?EIO=99&transport=polling", b"40"),
            ("GET", f"{base}/socket.io/?EIO=4&transport=carrier-pigeon", None),
        ]
        for method, target, body in probes:
            tried += 1
            status = _http(method, target, body)
            assert status < 500, (method, target, body, status)
            handled += 1
    time.sleep(1)
    after = rstack.console.read_text(encoding="utf-8", errors="replace").count("Traceback")
    assert after == before, rstack.console.read_text()[-3000:]
    print(f"socket.io: {handled} of {tried} malformed requests refused without a 500 or a traceback")


def test_invalid_and_huge_text_in_the_web_chat(rstack, rstore, patient):
    ref = patient()
    token = rstore.patients.issue_web_token(ref, ttl=timedelta(days=1), actor="test", origin="test")
    bot: list[dict] = []
    errors: list[dict] = []
    sio = socketio.Client(reconnection=False)
    sio.on("bot_uttered", bot.append)
    sio.on("chat_error", errors.append)
    sio.connect(rstack.settings.web_url, transports=["polling"], auth={"token": token}, wait_timeout=20)

    def send(text: object, wait: float = 90) -> list[dict]:
        n, e = len(bot), len(errors)
        sio.emit("user_uttered", {"message": text})
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(bot) == n and len(errors) == e:
            time.sleep(0.1)
        time.sleep(0.5)
        return bot[n:]

    try:
        assert send("hello \ud800 there"), errors  # a lone surrogate: answered
        assert not errors
        replies = send(FILLER * 700 + RISKY + ". " + FILLER * 700)
        assert CRISIS_MARK in " ".join(r.get("text", "") for r in replies), (replies, errors)
        send("x" * 98_000, wait=20)
        assert errors and errors[-1]["reason"] == "too_long"
    finally:
        sio.disconnect()
    flags = [f for f in rstore.flags.list_flags(actor="test", origin="reliability") if f.patient_ref == ref]
    assert len(flags) == 1
