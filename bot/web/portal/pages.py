"""What every portal page shares: templates, security headers, the 404 page, form reading."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from bot.prompts.readable import (
    answer_views,
    instrument_items,
    item9_above_zero,
    item9_answer,
)
from bot.web.portal.auth import csrf_ok, csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
MAX_FORM_BYTES = 64 * 1024
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # pages hold health information: never cached
}
SEVERITY_CLASS = {
    "critical": "sev-critical",
    "high": "sev-high",
    "moderate": "sev-moderate",
    "low": "sev-low",
}


def _local(value: datetime | None, tz: str = "UTC", fmt: str = "%a %d %b %Y, %H:%M %Z") -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _overdue(flag: Any, now: datetime | None) -> bool:
    """Past its acknowledgement deadline and not acknowledged: said in words on Today and the
    flag page (colour alone would not reach everyone)."""
    deadline = getattr(flag, "deadline_at", None)
    return bool(now and deadline and getattr(flag, "status", None) == "open" and deadline < now)


TEMPLATES.env.filters["local"] = _local
TEMPLATES.env.globals["overdue"] = _overdue
TEMPLATES.env.globals["SEVERITY_CLASS"] = SEVERITY_CLASS


def _catalogue():  # type: ignore[no-untyped-def]
    from bot.prompts.sets import default_catalogue

    return default_catalogue()


def _instrument_title(instrument: str) -> str:
    ps = _catalogue().for_instrument(instrument)
    return ps.title if ps else instrument.upper()


# Prompt sets, questions and answers in the words of clinic/prompts/, never by id.
TEMPLATES.env.filters["set_title"] = lambda set_id: _catalogue().title(set_id)
TEMPLATES.env.filters["instrument_title"] = _instrument_title
TEMPLATES.env.globals["answers_of"] = lambda set_id, answers: answer_views(_catalogue(), set_id, answers)
TEMPLATES.env.globals["items_of"] = lambda instrument, items: instrument_items(
    _catalogue(), instrument, items
)
TEMPLATES.env.globals["item9_of"] = item9_above_zero
TEMPLATES.env.globals["item9_answer"] = lambda value: item9_answer(_catalogue(), value)


def qr_svg(data: str) -> str:
    """An inline SVG QR code (no image library, no external service)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return img.to_string(encoding="unicode")


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context = {"csrf": csrf_token(request), "staff": context.pop("staff", None), **context}
    return TEMPLATES.TemplateResponse(
        request, f"portal/{name}", context, status_code=status, headers=PAGE_HEADERS
    )


def not_found(request: Request, staff: Any) -> Response:
    return page(
        request,
        "error.html",
        {
            "staff": staff,
            "title": "Not found",
            "message": "There is nothing here, or it is not yours to see.",
        },
        404,
    )


async def form_of(request: Request) -> Any | Response:
    """The posted form, or a refusal: too large (413) or a missing/forged CSRF token (403)."""
    too_large = HTMLResponse("That form is too large.", status_code=413)
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return too_large
    # A chunked body has no length to check up front: read it with the limit, then parse.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return too_large
    request._body = bytes(body)  # Starlette parses the form from this
    try:
        form = await request.form(max_files=0, max_fields=20)
    except Exception:
        return HTMLResponse("That form could not be read.", status_code=400)
    if not csrf_ok(request, form):
        return HTMLResponse(
            "This form has expired or was not sent from the portal. Go back and try again.",
            status_code=403,
        )
    return form


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_filename(filename: str) -> str:
    """Only letters, digits, `.`, `_` and `-` reach the header: no quotes, no CR/LF, no path."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "download"
    return cleaned[:120]


def attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    """A download of patient data: never cached, saved under `filename` (made header-safe)."""
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe_filename(filename)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
