"""Interlude's own web process (Starlette): landing page, the patient web chat, and the two
paths browsers and Telegram need from the Rasa server, which itself listens on 127.0.0.1 only.

- `/chat`: the page behind a patient's personal link (`/chat#token=...`).
- `/widget/interlude-widget.js` (+ `.css`, `vendor/socket.io.min.js`): the embeddable widget;
  the socket.io client comes from npm at install time (no CDN).
- `/socket.io/` (with an engine.io query) and `/telegram/webhook`: forwarded to Rasa. The
  client's path is never passed on: the raw path is decoded and normalised, must be exactly
  one of these two (anything else is a 404 from here), and the fixed upstream path is used.
  Nothing else of Rasa's HTTP API is reachable from outside.
"""

from __future__ import annotations

import posixpath
import re
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


def not_found() -> Response:
    return PlainTextResponse("Not found.", status_code=404)


class RasaProxy:
    """Forwards one request to the local Rasa server and its answer back, headers filtered."""

    def __init__(self, rasa_url: str) -> None:
        # Long-polls are held up to socket.io's ping interval (25 s): allow well beyond it.
        self.client = httpx.AsyncClient(base_url=rasa_url, timeout=httpx.Timeout(70.0, connect=5.0))

    async def forward(self, request: Request, path: str) -> Response:
        body = await request.body()
        if len(body) > MAX_PROXY_BODY:
            return JSONResponse({"error": "The request is too large."}, status_code=413)
        headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
        url = path + (f"?{request.url.query}" if request.url.query else "")
        try:
            upstream = await self.client.request(request.method, url, content=body, headers=headers)
        except httpx.HTTPError:
            return JSONResponse({"error": "The assistant is not reachable right now."}, status_code=502)
        out = {k: v for k, v in upstream.headers.items() if k.lower() in RESPONSE_HEADERS}
        return Response(upstream.content, status_code=upstream.status_code, headers=out)

    async def close(self) -> None:
        await self.client.aclose()


def create_app(settings: Settings | None = None, store_: Store | None = None) -> Starlette:
    """The web app. `store_` is for tests (an injected clock); by default the store is opened
    from the settings on first use."""
    settings = settings or load_settings()
    proxy = RasaProxy(settings.rasa_url)
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
