"""The attack suite's fixtures: Interlude's web app served by uvicorn on a free loopback port,
over a store on a scratch SQLite database, in front of a loopback upstream that answers every
request and records what reached it (so a request that escapes the forwarder is seen).

The Rasa stack is not needed here; the socket.io token attacks that need it live with the
shared stack in tests/integration/test_webchat_withdrawn.py.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.accounts import hash_password
from bot.config import Settings, load_settings
from bot.flags.store import SignalInput
from bot.runtime import Store
from bot.schedule.plan import default_plan
from bot.store import migrate

PASSWORD = "a-long-test-password-1"


class _Upstream(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path))  # type: ignore[attr-defined]
        body = json.dumps({"upstream": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_OPTIONS = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Upstream:
    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="package")
def upstream() -> Iterator[Upstream]:
    """A stand-in for Rasa on loopback that answers everything and remembers each path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    up = Upstream(server.server_address[1])
    up.seen = server.seen  # type: ignore[attr-defined]
    yield up
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Web:
    settings: Settings
    store: Store
    port: int
    staff: dict[str, int]
    patients: dict[str, str]
    flags: dict[str, int]
    sessions: dict[str, int]
    app: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def raw(self, method: str, target: str, body: bytes = b"", headers: dict | None = None):
        """One request with `target` sent byte for byte (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def sign_in(self, who: str) -> httpx.Client:
        c = self.client()
        token = csrf_of(c.get("/portal/login").text)
        email = f"{who}@sec.example.invalid"
        r = c.post("/portal/login", data={"csrf": token, "email": email, "password": PASSWORD})
        assert r.status_code == 303, r.text[:300]
        return c


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="package")
def web(tmp_path_factory, upstream: Upstream) -> Iterator[Web]:
    """The web app in-process (uvicorn, loopback) over a scratch SQLite store: a clinic with an
    admin, two therapists (`mine`, `theirs`) and one patient each."""
    root: Path = tmp_path_factory.mktemp("sec")
    port = _free_port()
    env = {
        "INTERLUDE_DATA_DIR": str(root / "data"),
        "INTERLUDE_HTTP_PORT": str(port),
        "INTERLUDE_RASA_PORT": str(upstream.port),
        "INTERLUDE_ACTIONS_PORT": str(_free_port()),
        "INTERLUDE_TELEGRAM_WEBHOOK_SECRET": "sec-test-webhook-secret",
    }
    settings = load_settings(env, cwd=root)
    migrate.upgrade(settings.database_url)
    store = Store.open(settings.database_url, settings.data_dir, environ={})
    clinic = store.staff.ensure_clinic("sec", "Security Clinic")
    staff = {}
    for who, role in (("admin", "admin"), ("mine", "therapist"), ("theirs", "therapist")):
        staff[who], _ = store.staff.ensure_staff(
            clinic, f"{who}@sec.example.invalid", f"Dr {who}", role, hash_password(PASSWORD)
        )
    patients = {
        who: store.patients.create_patient(
            clinic_id=clinic, therapist_id=staff[who], display_name=f"Secret-{who}-name"
        ).ref
        for who in ("mine", "theirs")
    }
    flags = {
        who: store.flags.record_risk(
            ref,
            message_id=None,
            text=f"Secret-{who}-words",
            signal=SignalInput("high", ["suicide"], [{"rule": "t"}]),
        ).flag_id
        for who, ref in patients.items()
    }
    sessions = {
        who: store.schedule.add_dosing_session(
            ref,
            datetime.now(UTC) + timedelta(days=20),
            "sublingual",
            plan=default_plan(),
            actor="t",
            origin="t",
        )
        for who, ref in patients.items()
    }
    from bot.web.app import create_app

    app = create_app(settings, store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Web(settings, store, port, staff, patients, flags, sessions, app)
    server.should_exit = True
    thread.join(timeout=10)
    store.core.close()
