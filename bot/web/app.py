"""Interlude's own web process (Starlette). For now: a landing page and a health check.

The therapist portal and the patient web chat widget will be served from here too.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.config import Settings, load_settings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    async def index(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "index.html", {"settings": settings})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/", index), Route("/healthz", healthz)])
