"""The therapist portal's pages: server-rendered, readable with JavaScript off.

Each handler is thin: it checks the session (login_required), the CSRF token on POSTs, and
calls the store, which decides what this staff member may see (another therapist's patient is
NotFound, answered with 404) and audits every read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.config import Settings
from bot.store.api import NotFound, Store, StoreError
from bot.web.portal.auth import Throttle, csrf_ok, csrf_token, login_required, sign_in

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


TEMPLATES.env.filters["local"] = _local
TEMPLATES.env.globals["SEVERITY_CLASS"] = SEVERITY_CLASS


def qr_svg(data: str) -> str:
    """An inline SVG QR code (no image library, no external service)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return img.to_string(encoding="unicode")


def portal_routes(settings: Settings, store: Callable[[], Store]) -> list[Route]:
    # Per e-mail: five tries; per address: more, since a clinic's staff may share one.
    by_email, by_address = Throttle(limit=5), Throttle(limit=30)

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
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return HTMLResponse("That form is too large.", status_code=413)
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

    # ---------------------------------------------------------------- sign-in
    async def login(request: Request) -> Response:
        context: dict[str, Any] = {"title": "Sign in", "next": request.query_params.get("next", "/portal")}
        if request.session.pop("expired", False):
            context["notice"] = "Your session ended after a period of inactivity. Please sign in again."
        if request.method == "GET":
            return page(request, "login.html", context)
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        email = str(form.get("email") or "").strip().lower()
        email_key, address_key = f"email:{email}", f"ip:{client(request)}"
        wait = max(by_email.blocked_for([email_key]), by_address.blocked_for([address_key]))
        if wait:
            context["error"] = f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes."
            response = page(request, "login.html", context, 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        staff = await run_in_threadpool(store().authenticate, email, str(form.get("password") or ""))
        if staff is None:
            by_email.fail([email_key])
            by_address.fail([address_key])
            await run_in_threadpool(
                store().audit_staff, None, "login.failed", origin="portal", detail={"ip": client(request)}
            )
            context["error"] = "That e-mail and password do not match an account."
            return page(request, "login.html", context, 401)
        by_email.succeed(email_key)
        sign_in(request, staff.id)
        previous = await run_in_threadpool(store().start_visit, staff.id)
        # A first visit shows the past week.
        request.session["since"] = (previous or datetime.now().astimezone() - timedelta(days=7)).isoformat()
        await run_in_threadpool(
            store().audit_staff, staff.id, "login", origin="portal", detail={"ip": client(request)}
        )
        target = str(form.get("next") or "/portal")
        return RedirectResponse(target if target.startswith("/portal") else "/portal", status_code=303)

    @login_required
    async def logout(request: Request, staff_id: int) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        request.session.clear()
        return RedirectResponse("/portal/login", status_code=303)

    # ---------------------------------------------------------------- pages
    async def staff_of(staff_id: int) -> Any:
        return await run_in_threadpool(store().staff_view, staff_id)

    @login_required
    async def today(request: Request, staff_id: int) -> Response:
        since = request.session.get("since")
        view = await run_in_threadpool(
            store().today_for, staff_id, datetime.fromisoformat(since) if since else None
        )
        return page(
            request, "today.html", {"staff": await staff_of(staff_id), "title": "Today", "today": view}
        )

    @login_required
    async def patients(request: Request, staff_id: int) -> Response:
        rows = await run_in_threadpool(store().patients_for, staff_id)
        return page(
            request, "patients.html", {"staff": await staff_of(staff_id), "title": "Patients", "rows": rows}
        )

    @login_required
    async def patient(request: Request, staff_id: int) -> Response:
        staff = await staff_of(staff_id)
        try:
            view = await run_in_threadpool(store().patient_overview, staff_id, request.path_params["ref"])
        except NotFound:
            return not_found(request, staff)
        return page(
            request,
            "patient.html",
            {"staff": staff, "title": view["name"], "p": view, "error": request.query_params.get("error")},
        )

    @login_required
    async def transcript(request: Request, staff_id: int) -> Response:
        staff = await staff_of(staff_id)
        ref = request.path_params["ref"]
        try:
            overview = await run_in_threadpool(store().patient_overview, staff_id, ref)
            messages = await run_in_threadpool(store().transcript_for, staff_id, ref)
        except NotFound:
            return not_found(request, staff)
        return page(
            request,
            "transcript.html",
            {"staff": staff, "title": f"Transcript: {overview['name']}", "p": overview, "messages": messages},
        )

    @login_required
    async def flag(request: Request, staff_id: int) -> Response:
        staff = await staff_of(staff_id)
        try:
            detail = await run_in_threadpool(
                store().flag_detail, staff_id, int(request.path_params["flag_id"])
            )
        except NotFound:
            return not_found(request, staff)
        return page(
            request,
            "flag.html",
            {
                "staff": staff,
                "title": f"Risk flag #{detail.flag.id}",
                "d": detail,
                "error": request.query_params.get("error"),
            },
        )

    @login_required
    async def flag_action(request: Request, staff_id: int) -> Response:
        from bot.handoff import HandoffService, RasaApi

        staff = await staff_of(staff_id)
        flag_id = int(request.path_params["flag_id"])
        action = request.path_params["action"]
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        s = store()
        try:
            ref = await run_in_threadpool(s.flag_patient_ref, staff_id, flag_id)
        except NotFound:
            return not_found(request, staff)
        handoff = HandoffService(s, RasaApi(settings.rasa_url, settings.api_token))
        try:
            if action == "ack":
                await run_in_threadpool(s.acknowledge_flag, flag_id, staff_id, origin="portal")
            elif action == "resolve":
                await run_in_threadpool(s.resolve_flag, flag_id, staff_id, origin="portal")
            elif action == "note":
                await run_in_threadpool(s.add_flag_note, staff_id, flag_id, str(form.get("text") or ""))
            elif action == "takeover":
                await run_in_threadpool(handoff.start, ref, staff_id, origin="portal")
            elif action == "say":
                await run_in_threadpool(
                    handoff.say, ref, staff_id, str(form.get("text") or ""), origin="portal"
                )
            elif action == "handback":
                await run_in_threadpool(handoff.end, ref, staff_id, origin="portal")
            else:
                return not_found(request, staff)
        except StoreError as exc:
            return RedirectResponse(f"/portal/flags/{flag_id}?error={quote(str(exc))}", status_code=303)
        return RedirectResponse(f"/portal/flags/{flag_id}", status_code=303)

    @login_required
    async def enroll(request: Request, staff_id: int) -> Response:
        from bot.enrollment import enroll_patient

        staff = await staff_of(staff_id)
        therapists = await run_in_threadpool(store().therapists, staff.clinic_id)
        context: dict[str, Any] = {
            "staff": staff,
            "title": "Enroll a patient",
            "therapists": therapists,
            "form": {"timezone": "UTC", "locale": "en-US"},
        }
        if request.method == "GET":
            return page(request, "enroll.html", context)
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        values = {k: str(form.get(k) or "").strip() for k in ("name", "timezone", "locale", "therapist")}
        context["form"] = values
        therapist_email = staff.email
        if staff.role == "admin" and values["therapist"]:
            chosen = next((t for t in therapists if str(t[0]) == values["therapist"]), None)
            view = await run_in_threadpool(store().staff_view, chosen[0]) if chosen else None
            therapist_email = view.email if view else ""
        try:
            links = await run_in_threadpool(
                lambda: enroll_patient(
                    store(),
                    settings,
                    therapist_email=therapist_email,
                    name=values["name"],
                    timezone=values["timezone"] or "UTC",
                    locale=values["locale"] or "en-US",
                    actor=f"staff:{staff_id}",
                    origin="portal",
                )
            )
        except StoreError as exc:
            context["error"] = str(exc)
            return page(request, "enroll.html", context, 400)
        context["links"] = links
        context["qr"] = qr_svg(links.telegram_link) if links.telegram_link else None
        return page(request, "enroll.html", context)

    @login_required
    async def add_session(request: Request, staff_id: int) -> Response:
        from bot.schedule.plan import default_plan

        ref = request.path_params["ref"]
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        if not await run_in_threadpool(store().can_see_patient, staff_id, ref):
            return not_found(request, await staff_of(staff_id))
        overview_tz = (await run_in_threadpool(store().find_patient, ref)).timezone
        try:
            at = datetime.fromisoformat(str(form.get("at") or "")).replace(tzinfo=ZoneInfo(overview_tz))
        except ValueError:
            return RedirectResponse(
                f"/portal/patients/{ref}?error={quote('Give the date and time of the session.')}",
                status_code=303,
            )
        route = str(form.get("route") or "sublingual")
        try:
            await run_in_threadpool(
                lambda: store().add_dosing_session(
                    ref, at, route, plan=default_plan(), actor=f"staff:{staff_id}", origin="portal"
                )
            )
        except StoreError as exc:
            return RedirectResponse(f"/portal/patients/{ref}?error={quote(str(exc))}", status_code=303)
        return RedirectResponse(f"/portal/patients/{ref}", status_code=303)

    @login_required
    async def trends(request: Request, staff_id: int) -> Response:
        from bot.web.portal.charts import GAD7_BANDS, PHQ9_BANDS, Series, chart

        staff = await staff_of(staff_id)
        try:
            t = await run_in_threadpool(store().trends_for, staff_id, request.path_params["ref"])
        except NotFound:
            return not_found(request, staff)
        charts = [
            (
                "Mood (0 very low, 10 very good)",
                chart(Series("Mood", [(a, v) for a, v in t["mood"]], 10, []), t["sessions"], "mood"),
                t["mood"],
            ),
            (
                "PHQ-9 (depression)",
                chart(
                    Series("PHQ-9 total", [(a, v) for a, v, _ in t["phq9"]], 27, PHQ9_BANDS),
                    t["sessions"],
                    "phq9",
                ),
                t["phq9"],
            ),
            (
                "GAD-7 (anxiety)",
                chart(
                    Series("GAD-7 total", [(a, v) for a, v, _ in t["gad7"]], 21, GAD7_BANDS),
                    t["sessions"],
                    "gad7",
                ),
                t["gad7"],
            ),
        ]
        return page(
            request,
            "trends.html",
            {"staff": staff, "title": f"Trends: {t['name']}", "t": t, "charts": charts},
        )

    @login_required
    async def export_csv(request: Request, staff_id: int) -> Response:
        import csv
        import io

        try:
            rows = await run_in_threadpool(store().entries_csv_rows, staff_id, request.path_params["ref"])
        except NotFound:
            return not_found(request, await staff_of(staff_id))
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text.
            writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row])
        ref = request.path_params["ref"]
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="interlude-{ref}-entries.csv"',
                "Cache-Control": "no-store",
            },
        )

    async def home(request: Request) -> Response:
        return RedirectResponse("/portal", status_code=303)

    return [
        Route("/portal/login", login, methods=["GET", "POST"]),
        Route("/portal/logout", logout, methods=["POST"]),
        Route("/portal", today),
        Route("/portal/", home),
        Route("/portal/patients", patients),
        Route("/portal/patients/{ref}", patient),
        Route("/portal/patients/{ref}/transcript", transcript),
        Route("/portal/patients/{ref}/sessions", add_session, methods=["POST"]),
        Route("/portal/patients/{ref}/trends", trends),
        Route("/portal/patients/{ref}/entries.csv", export_csv),
        Route("/portal/flags/{flag_id:int}", flag),
        Route("/portal/flags/{flag_id:int}/{action}", flag_action, methods=["POST"]),
        Route("/portal/enroll", enroll, methods=["GET", "POST"]),
    ]
