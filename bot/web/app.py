"""Interlude's own web process (Starlette): landing page, the patient web chat, and the two
paths browsers and Telegram need from the Rasa server, which itself listens on 127.0.0.1 only.

- `/chat`: the page behind a patient's personal link (`/chat#token=...`).
- `/widget/interlude-widget.js` (+ `.css`, `vendor/socket.io.min.js`): the embeddable widget;
  the socket.io client comes from npm at install time (no CDN).
- `/socket.io/` (with an engine.io query) and `/telegram/webhook`: forwarded to Rasa. The
  client's path is never passed on: the raw path is decoded and normalised, must be exactly
  one of these two (anything else is a 404 from here), and the fixed upstream path is used.
  Nothing else of Rasa's HTTP API is reachable from outside.
- `/webhooks/local/webhook` and `/webhooks/local/outbox` (the terminal client's channel, API
  token required by Rasa): forwarded for loopback clients only, never for proxied ones.

With several Rasa replicas (INTERLUDE_RASA_URLS, set by `interlude run --replicas N`) the
forwarder spreads the traffic over them (RasaProxy): a socket.io session stays on the replica
that opened it (engine.io keeps its sessions in that process, so every poll of one socket must
reach it: sticky by sid); new sockets, local-channel messages and Telegram updates go to the
replicas in turn (a conversation's order is kept by Rasa's lock store in Redis, not by routing);
the local outbox is collected from every replica.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import re
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.runtime import Store
from bot.web.portal.sessions import ServerSessionMiddleware
from bot.web.portal.views import portal_routes

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC = HERE / "static"
#: Built by `npm ci` in scripts/install.sh from package-lock.json.
SOCKET_IO_CLIENT = PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

#: Larger than any chat message (20,000 characters) in socket.io framing; smaller than harm.
MAX_PROXY_BODY = 1_000_000
REQUEST_HEADERS = ("content-type", "origin", "x-telegram-bot-api-secret-token")
RESPONSE_HEADERS = (
    "content-type",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
)
#: The chat page loads only its own scripts and talks only to its own origin.
CHAT_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


SOCKETIO_PATH = "/socket.io/"
LOCAL_WEBHOOK = "/webhooks/local/webhook"
LOCAL_OUTBOX = "/webhooks/local/outbox"
#: Connections from the web app to one Rasa replica: about two per open web chat (its long-poll
#: and a message being sent) plus the local channel's and Telegram's requests.
MAX_UPSTREAM_CONNECTIONS = 4_000
#: The local channel's paths and the one method each takes.
LOCAL_PATHS = {LOCAL_WEBHOOK: "POST", LOCAL_OUTBOX: "GET"}
#: engine.io sessions remembered for stickiness (oldest forgotten first; a forgotten one's
#: client gets "invalid session" and reconnects, as after a restart).
MAX_STICKY_SESSIONS = 50_000
#: engine.io v4's open packet, the answer to a polling handshake: 0{"sid":"...",...}
_OPEN_SID = re.compile(rb'^0\{[^\x1e]*?"sid":"([^"]{1,100})"')


def normalised_path(raw: bytes | str) -> str:
    """The path as a lenient server anywhere along the way might read it: percent-decoded until
    stable (double encoding), backslashes as slashes, `;` parameters dropped, doubled slashes
    collapsed and dot segments resolved. Used only to decide; nothing of it is forwarded."""
    path = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    for _ in range(5):
        decoded = unquote(path, encoding="latin-1")
        if decoded == path:
            break
        path = decoded
    path = path.replace("\\", "/")
    path = "/".join(segment.split(";", 1)[0] for segment in path.split("/"))
    path = re.sub("/{2,}", "/", path)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    path = posixpath.normpath(path) if path else "/"
    path = "/" + path.lstrip("/")
    return path + "/" if trailing and not path.endswith("/") else path


def forward_target(raw_path: bytes | str, query: str, telegram_path: str) -> str | None:
    """The upstream path for a request, or None (the web app answers 404). The raw path must be
    byte for byte one of the two forwarded paths and equal to its normalised reading, so no
    spelling of another path can slip through."""
    raw = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    if raw != normalised_path(raw):
        return None
    if raw == SOCKETIO_PATH and "EIO" in parse_qs(query):
        return SOCKETIO_PATH
    if raw == telegram_path:
        return "/webhooks/telegram/webhook"
    return None


def local_target(raw_path: bytes | str, method: str) -> str | None:
    """The local channel's path if the raw path is exactly one of its two (with its method)."""
    raw = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    if raw != normalised_path(raw) or LOCAL_PATHS.get(raw) != method:
        return None
    return raw


def from_loopback(request: Request) -> bool:
    """A client on this machine, not one relayed by a proxy (proxies add X-Forwarded-For)."""
    host = request.client.host if request.client else ""
    forwarded = any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-real-ip"))
    return host in ("127.0.0.1", "::1") and not forwarded


def rasa_urls(settings: Settings, environ: dict[str, str] | None = None) -> list[str]:
    """The Rasa replicas to forward to: INTERLUDE_RASA_URLS (set by `interlude run`), else one."""
    raw = (environ if environ is not None else os.environ).get("INTERLUDE_RASA_URLS", "")
    urls = [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]
    return urls or [settings.rasa_url]


def not_found() -> Response:
    return PlainTextResponse("Not found.", status_code=404)


class RasaProxy:
    """Forwards one request to a Rasa replica and its answer back, headers filtered."""

    def __init__(self, rasa_urls: str | Sequence[str]) -> None:
        urls = [rasa_urls] if isinstance(rasa_urls, str) else list(rasa_urls)
        # Long-polls are held up to socket.io's ping interval (25 s): allow well beyond it.
        # Every open chat holds one connection in a long-poll, so httpx's default pool (100)
        # would make the 101st chat's messages wait for a free connection, then fail.
        limits = httpx.Limits(max_connections=MAX_UPSTREAM_CONNECTIONS, max_keepalive_connections=200)
        self.clients = [
            httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(70.0, connect=5.0), limits=limits)
            for url in urls
        ]
        self._turn = itertools.count()
        #: engine.io sid -> the replica that opened it.
        self.sessions: OrderedDict[str, int] = OrderedDict()

    def _order(self) -> list[int]:
        """Every replica once, starting with the next in turn (the rest are fall-backs)."""
        first = next(self._turn) % len(self.clients)
        return [(first + i) % len(self.clients) for i in range(len(self.clients))]

    def _sticky(self, query: str) -> int | None:
        sid = (parse_qs(query).get("sid") or [""])[0]
        if not sid:
            return None
        replica = self.sessions.get(sid)
        if replica is None:
            return 0  # unknown (forgotten, or before a restart): the client will reconnect
        self.sessions.move_to_end(sid)
        return replica

    def _remember(self, replica: int, body: bytes) -> None:
        match = _OPEN_SID.match(body)
        if match:
            self.sessions[match.group(1).decode("ascii", "replace")] = replica
            while len(self.sessions) > MAX_STICKY_SESSIONS:
                self.sessions.popitem(last=False)

    async def forward(self, request: Request, path: str, *, pass_headers: Sequence[str] = ()) -> Response:
        body = await request.body()
        if len(body) > MAX_PROXY_BODY:
            return JSONResponse({"error": "The request is too large."}, status_code=413)
        wanted = (*REQUEST_HEADERS, *pass_headers)
        headers = {k: v for k, v in request.headers.items() if k.lower() in wanted}
        url = path + (f"?{request.url.query}" if request.url.query else "")
        sticky = self._sticky(request.url.query) if path == SOCKETIO_PATH else None
        # A replica that refuses the connection (restarting) never saw the request: the next
        # one may take it. A sticky socket has no other replica to go to.
        for replica in [sticky] if sticky is not None else self._order():
            try:
                upstream = await self.clients[replica].request(
                    request.method, url, content=body, headers=headers
                )
            except httpx.ConnectError:
                continue
            except httpx.HTTPError:
                break
            if path == SOCKETIO_PATH and sticky is None and upstream.status_code == 200:
                self._remember(replica, upstream.content)
            out = {k: v for k, v in upstream.headers.items() if k.lower() in RESPONSE_HEADERS}
            return Response(upstream.content, status_code=upstream.status_code, headers=out)
        return JSONResponse({"error": "The assistant is not reachable right now."}, status_code=502)

    async def collect(self, request: Request, path: str, *, pass_headers: Sequence[str] = ()) -> Response:
        """GET `path` from every replica and join their JSON lists (the local outbox: a
        proactive message waits in the replica that sent it)."""
        wanted = (*REQUEST_HEADERS, *pass_headers)
        headers = {k: v for k, v in request.headers.items() if k.lower() in wanted}
        url = path + (f"?{request.url.query}" if request.url.query else "")
        items: list[object] = []
        status, error = 502, b""
        for client in self.clients:
            try:
                upstream = await client.get(url, headers=headers)
            except httpx.HTTPError:
                continue
            if upstream.status_code != 200:
                if status != 200:  # an error (401, say) is told as it is, unless one answered
                    status, error = upstream.status_code, upstream.content
                continue
            status = 200
            try:
                found = upstream.json()
            except ValueError:
                continue
            items.extend(found if isinstance(found, list) else [])
        if status == 200:
            return JSONResponse(items)
        if status == 502:
            return JSONResponse({"error": "The assistant is not reachable right now."}, status_code=502)
        return Response(error, status_code=status, media_type="application/json")

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


def create_app(settings: Settings | None = None, store_: Store | None = None) -> Starlette:
    """The web app. `store_` is for tests (an injected clock); by default the store is opened
    from the settings on first use."""
    settings = settings or load_settings()
    proxy = RasaProxy(rasa_urls(settings))
    opened: list[Store] = [store_] if store_ is not None else []

    def store() -> Store:
        # Opened on first use, so the landing page and the chat work while the database starts.
        if not opened:
            opened.append(Store.open(settings.database_url, settings.data_dir))
        return opened[0]

    async def index(request: Request) -> Response:
        # Public: nothing internal (paths, ports, versions); `interlude status` has those.
        return TEMPLATES.TemplateResponse(request, "index.html", {})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def chat(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "chat.html", {}, headers=CHAT_PAGE_HEADERS)

    async def widget_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "vendor/socket.io.min.js":
            if not SOCKET_IO_CLIENT.is_file():
                return PlainTextResponse(
                    "The socket.io client is not installed; run `make install`.", status_code=503
                )
            return FileResponse(SOCKET_IO_CLIENT, media_type="text/javascript")
        files = {
            "interlude-widget.js": "text/javascript",
            "interlude-widget.css": "text/css",
        }
        if name not in files:
            return PlainTextResponse("Not found.", status_code=404)
        return FileResponse(STATIC / name, media_type=files[name], headers={"Cache-Control": "no-cache"})

    async def favicon(request: Request) -> Response:
        # Browsers ask for /favicon.ico whatever the page links; pages link the SVG too.
        return FileResponse(
            STATIC / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"}
        )

    async def forwarded(request: Request) -> Response:
        # Starlette matched on the decoded path; decide again on the raw bytes the client sent.
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        target = forward_target(raw, request.url.query, settings.telegram_webhook_path)
        if target is None:
            return not_found()
        if target != SOCKETIO_PATH and request.method != "POST":
            return PlainTextResponse("Method not allowed.", status_code=405)
        return await proxy.forward(request, target)

    async def forwarded_local(request: Request) -> Response:
        # The terminal client's channel: only from this machine, and Rasa checks the API token.
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        target = local_target(raw, request.method)
        if target is None or not from_loopback(request):
            return not_found()
        if target == LOCAL_OUTBOX:
            return await proxy.collect(request, target, pass_headers=("authorization",))
        return await proxy.forward(request, target, pass_headers=("authorization",))

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        await proxy.close()
        if store_ is None:  # an injected store belongs to its owner
            for s in opened:
                s.core.close()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/favicon.ico", favicon),
            Route("/chat", chat),
            Route("/widget/{name:path}", widget_asset),
            # Broad patterns on purpose: every spelling lands in `forwarded`, which answers 404
            # for all but the exact paths (and never falls through to another route).
            Route("/socket.io{rest:path}", forwarded, methods=["GET", "POST", "OPTIONS"]),
            Route(settings.telegram_webhook_path + "{rest:path}", forwarded, methods=["GET", "POST"]),
            Route("/webhooks/local{rest:path}", forwarded_local, methods=["GET", "POST"]),
            *portal_routes(settings, store),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            # Server-side portal sessions: the cookie is a random id (HttpOnly, SameSite=Lax;
            # Secure whenever served over https); sign-out deletes the session.
            Middleware(
                ServerSessionMiddleware,
                store=store,
                https_only=settings.portal_base_url.startswith("https://"),
            )
        ],
        lifespan=lifespan,
    )
