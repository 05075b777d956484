"""The web app's forwarder over several Rasa replicas: a socket.io session stays on the replica
that opened it, other traffic goes to the replicas in turn (and past one that is down), the
local outbox is gathered from all, and the local channel is for loopback clients only."""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.requests import Request

from bot.web.app import LOCAL_OUTBOX, LOCAL_WEBHOOK, SOCKETIO_PATH, RasaProxy, from_loopback, local_target


class Replica:
    """A stand-in for one Rasa replica: records what reached it; engine.io handshakes get a
    session id of its own."""

    def __init__(self, name: str, down: bool = False) -> None:
        self.name = name
        self.down = down
        self.seen: list[str] = []
        self.opened = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        self.seen.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        if request.url.path == SOCKETIO_PATH and b"sid=" not in request.url.query:
            self.opened += 1
            sid = f"{self.name}-{self.opened}"
            return httpx.Response(200, content=b'0{"sid":"' + sid.encode() + b'","upgrades":[]}')
        if request.url.path == LOCAL_OUTBOX:
            return httpx.Response(200, json=[{"text": f"from {self.name}"}])
        return httpx.Response(200, json={"replica": self.name})


def proxy(*replicas: Replica) -> RasaProxy:
    p = RasaProxy([f"http://{r.name}" for r in replicas])
    p.clients = [
        httpx.AsyncClient(base_url=f"http://{r.name}", transport=httpx.MockTransport(r)) for r in replicas
    ]
    return p


def request(
    method: str, path: str, query: str = "", headers: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Request:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (host, 40000),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "root_path": "",
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    return Request(scope, receive)


def test_a_socket_stays_on_the_replica_that_opened_it():
    a, b = Replica("a"), Replica("b")
    p = proxy(a, b)

    async def scenario() -> list[str]:
        sids = []
        for _ in range(4):  # four sockets open, in turn on a and b
            r = await p.forward(request("GET", SOCKETIO_PATH, "EIO=4&transport=polling"), SOCKETIO_PATH)
            sids.append(r.body.decode().split('"sid":"')[1].split('"')[0])
        for _ in range(3):  # then every poll of each socket, interleaved with other traffic
            for sid in sids:
                await p.forward(
                    request("GET", SOCKETIO_PATH, f"EIO=4&transport=polling&sid={sid}"), SOCKETIO_PATH
                )
                await p.forward(request("POST", LOCAL_WEBHOOK), LOCAL_WEBHOOK)
        return sids

    sids = asyncio.run(scenario())
    assert sorted(sids) == ["a-1", "a-2", "b-1", "b-2"]
    for replica in (a, b):
        polled = [s.split("sid=")[1] for s in replica.seen if "sid=" in s]
        assert polled and all(sid.startswith(replica.name) for sid in polled), replica.seen
        assert len(polled) == 6  # its two sockets, three polls each
        assert sum(LOCAL_WEBHOOK in s for s in replica.seen) == 6  # local messages: in turn


def test_a_replica_that_is_down_is_passed_over():
    a, b = Replica("a", down=True), Replica("b")
    p = proxy(a, b)

    async def scenario() -> list[int]:
        return [
            (await p.forward(request("POST", LOCAL_WEBHOOK), LOCAL_WEBHOOK)).status_code for _ in range(4)
        ]

    assert asyncio.run(scenario()) == [200] * 4
    assert len(b.seen) == 4
    b.down = True
    assert asyncio.run(scenario()) == [502] * 4


def test_the_local_outbox_is_gathered_from_every_replica():
    p = proxy(Replica("a"), Replica("b"))
    response = asyncio.run(p.collect(request("GET", LOCAL_OUTBOX, "sender=pt_x"), LOCAL_OUTBOX))
    assert response.status_code == 200
    assert json.loads(response.body) == [{"text": "from a"}, {"text": "from b"}]


def test_the_local_channel_is_for_loopback_clients_only():
    assert local_target(LOCAL_WEBHOOK, "POST") == LOCAL_WEBHOOK
    assert local_target(LOCAL_OUTBOX, "GET") == LOCAL_OUTBOX
    assert local_target(LOCAL_WEBHOOK, "GET") is None
    assert local_target("/webhooks/local/../rest/webhook", "POST") is None
    assert local_target("/webhooks/local/%2e%2e/rest/webhook", "POST") is None
    assert from_loopback(request("POST", LOCAL_WEBHOOK))
    assert not from_loopback(request("POST", LOCAL_WEBHOOK, host="203.0.113.9"))
    assert not from_loopback(request("POST", LOCAL_WEBHOOK, headers={"X-Forwarded-For": "203.0.113.9"}))
