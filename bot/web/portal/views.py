"""The therapist portal's pages: server-rendered, readable with JavaScript off.

Each handler is thin: it checks the session (login_required), the CSRF token on POSTs, and
calls the store, which decides what this staff member may see (another therapist's patient is
NotFound, answered with 404) and audits every read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.config import Settings
from bot.runtime import Store
from bot.store.errors import NotFound, StoreError
from bot.web.portal.admin import admin_routes
from bot.web.portal.auth import Throttle, sign_in
from bot.web.portal.auth import login_required as session_required
from bot.web.portal.pages import attachment, client, form_of, not_found, page, qr_svg
from bot.web.portal.sessions import rotate

PENDING_SECONDS = 5 * 60  # between a right password and the code


def portal_routes(settings: Settings, store: Callable[[], Store]) -> list[Route]:
    # Per e-mail: five tries; per address: more, since a clinic's staff may share one.
    by_email, by_address = Throttle(limit=5), Throttle(limit=30)

    def login_required(handler: Callable[[Request, int], Awaitable[Response]]) -> Callable[..., Any]:
        """Signed in, and the account still active: disabling an account ends its sessions."""

        @session_required
        async def wrapped(request: Request, staff_id: int) -> Response:
            staff = await run_in_threadpool(store().portal.staff_view, staff_id)
            if staff is None or request.session.get("stamp") != staff.credential_stamp:
                # Disabled, or the password changed since this session signed in.
                request.session.clear()
                return RedirectResponse("/portal/login", status_code=303)
            request.state.staff = staff  # read once per request; handlers use it
            return await handler(request, staff_id)

        return wrapped

    def _zones(refs: set[str]) -> dict[str, str]:
        """Each patient's time zone: Today and the flag page show times as the timeline does,
        in the patient's zone with the zone named (blocking: run it in the thread pool)."""
        out = {}
        for ref in refs:
            patient = store().patients.find_patient(ref)
            if patient is not None:
                out[ref] = patient.timezone
        return out

    # ---------------------------------------------------------------- sign-in
    async def login(request: Request) -> Response:
        context: dict[str, Any] = {"title": "Sign in", "next": request.query_params.get("next", "/portal")}
        if request.session.pop("expired", False):
            context["notice"] = "Your session has ended. Please sign in again."
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
        staff = await run_in_threadpool(store().portal.authenticate, email, str(form.get("password") or ""))
        if staff is None:
            by_email.fail([email_key])
            by_address.fail([address_key])
            await run_in_threadpool(
                store().portal.audit_staff,
                None,
                "login.failed",
                origin="portal",
                detail={"ip": client(request)},
            )
            context["error"] = "That e-mail and password do not match an account."
            return page(request, "login.html", context, 401)
        by_email.succeed(email_key)
        target = str(form.get("next") or "/portal")
        target = target if target.startswith("/portal") else "/portal"
        if staff.totp:
            # Password right; the session is not signed in until the code is right too.
            request.session.clear()
            rotate(request)  # a new id after the password step too
            now = (await run_in_threadpool(store().core.now)).timestamp()
            request.session.update({"pending_staff": staff.id, "pending_at": now, "next": target})
            return RedirectResponse("/portal/login/code", status_code=303)
        return await finish_sign_in(request, staff.id, target)

    async def finish_sign_in(request: Request, staff_id: int, target: str) -> Response:
        staff = await run_in_threadpool(store().portal.staff_view, staff_id)
        if staff is None:
            request.session.clear()
            return RedirectResponse("/portal/login", status_code=303)
        sign_in(request, staff_id, staff.credential_stamp)
        previous = await run_in_threadpool(store().portal.start_visit, staff_id)
        # A first visit shows the past week.
        request.session["since"] = (previous or datetime.now().astimezone() - timedelta(days=7)).isoformat()
        await run_in_threadpool(
            store().portal.audit_staff, staff_id, "login", origin="portal", detail={"ip": client(request)}
        )
        return RedirectResponse(target, status_code=303)

    async def login_code(request: Request) -> Response:
        """The second step for accounts with two-step sign-in: a code from their authenticator."""
        staff_id = request.session.get("pending_staff")
        now = (await run_in_threadpool(store().core.now)).timestamp()
        if not staff_id or now - float(request.session.get("pending_at", 0)) > PENDING_SECONDS:
            # Only the half-finished sign-in is dropped: a stray (or cross-site) request here
            # must not sign out a signed-in session.
            for key in ("pending_staff", "pending_at", "next"):
                request.session.pop(key, None)
            return RedirectResponse("/portal/login", status_code=303)
        context: dict[str, Any] = {"title": "Two-step sign-in"}
        if request.method == "GET":
            return page(request, "login_code.html", context)
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        key = f"totp:{staff_id}"
        wait = by_email.blocked_for([key])
        if wait:
            request.session.clear()
            context["error"] = f"Too many wrong codes. Sign in again in {int(wait // 60) + 1} minutes."
            response = page(request, "login_code.html", context, 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        if not await run_in_threadpool(
            store().staff_admin.totp_check, int(staff_id), str(form.get("code") or "")
        ):
            by_email.fail([key])
            context["error"] = "That code is not right, or was already used. Try the next one."
            return page(request, "login_code.html", context, 401)
        by_email.succeed(key)
        return await finish_sign_in(request, int(staff_id), str(request.session.get("next") or "/portal"))

    @login_required
    async def logout(request: Request, staff_id: int) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        request.session.clear()  # the server-side session is deleted: a copied cookie opens nothing
        return RedirectResponse("/portal/login", status_code=303)

    # ---------------------------------------------------------------- pages
    @login_required
    async def today(request: Request, staff_id: int) -> Response:
        since = request.session.get("since")
        view = await run_in_threadpool(
            store().portal.today_for, staff_id, datetime.fromisoformat(since) if since else None
        )
        # Patients' requests made in the chat (data deleted or sent, a word with the therapist).
        requests = await run_in_threadpool(store().requests.open_requests_for, staff_id)
        refs = {f.patient_ref for f in view.flags} | {r["ref"] for r in view.completed + view.missed}
        refs |= {r.ref for r in requests}
        return page(
            request,
            "today.html",
            {
                "staff": request.state.staff,
                "title": "Today",
                "today": view,
                "requests": requests,
                "zones": await run_in_threadpool(_zones, refs),
                "now": store().core.now(),
            },
        )

    @login_required
    async def patients(request: Request, staff_id: int) -> Response:
        rows = await run_in_threadpool(store().portal.patients_for, staff_id)
        return page(
            request, "patients.html", {"staff": request.state.staff, "title": "Patients", "rows": rows}
        )

    @login_required
    async def patient(request: Request, staff_id: int) -> Response:
        from bot.safety.resources import resources_for

        staff = request.state.staff
        try:
            view = await run_in_threadpool(
                store().patient_views.patient_overview, staff_id, request.path_params["ref"]
            )
        except NotFound:
            return not_found(request, staff)
        # Admins may give the patient to another therapist (e.g. when one leaves).
        therapists = (
            await run_in_threadpool(store().portal.therapists, staff.clinic_id)
            if staff.role == "admin"
            else []
        )
        return page(
            request,
            "patient.html",
            {
                "staff": staff,
                "title": view["name"],
                "p": view,
                # A scored check-in shows its total and band under its items.
                "scores_by_checkin": {r["checkin_id"]: r for r in view["scores"] if r.get("checkin_id")},
                "crisis": resources_for(view["locale"]),
                "therapists": therapists,
                "error": request.query_params.get("error"),
            },
        )

    @login_required
    async def transcript(request: Request, staff_id: int) -> Response:
        """One day per page, newest day first; ?message=ID opens the day holding that message
        (a flag's link) and highlights it."""
        from bot.web.portal.paging import transcript_page

        staff = request.state.staff
        ref = request.path_params["ref"]
        try:
            overview = await run_in_threadpool(store().patient_views.patient_overview, staff_id, ref)
            messages = await run_in_threadpool(store().patient_views.transcript_for, staff_id, ref)
        except NotFound:
            return not_found(request, staff)
        try:
            day = date.fromisoformat(request.query_params.get("day", ""))
        except ValueError:
            day = None  # no day, or a malformed one: the newest day
        target = request.query_params.get("message") or None
        shown = transcript_page(messages, overview["timezone"], day, target)
        return page(
            request,
            "transcript.html",
            {
                "staff": staff,
                "title": f"Transcript: {overview['name']}",
                "p": overview,
                "t": shown,
                "target": target if any(m.get("id") == target for m in shown.messages) else None,
            },
        )

    @login_required
    async def flag(request: Request, staff_id: int) -> Response:
        staff = request.state.staff
        try:
            detail = await run_in_threadpool(
                store().portal.flag_detail, staff_id, int(request.path_params["flag_id"])
            )
        except NotFound:
            return not_found(request, staff)
        zones = await run_in_threadpool(_zones, {detail.flag.patient_ref})
        return page(
            request,
            "flag.html",
            {
                "staff": staff,
                "title": f"Risk flag #{detail.flag.id}",
                # Times in the patient's zone, as on their timeline, with the zone named.
                "tz": zones.get(detail.flag.patient_ref, "UTC"),
                "now": store().core.now(),
                "d": detail,
                "examples": _safety_examples(),
                "error": request.query_params.get("error"),
            },
        )

    @login_required
    async def flag_action(request: Request, staff_id: int) -> Response:
        from bot.flags.handoff import HandoffService, RasaApi

        staff = request.state.staff
        flag_id = int(request.path_params["flag_id"])
        action = request.path_params["action"]
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        s = store()
        try:
            ref = await run_in_threadpool(s.portal.flag_patient_ref, staff_id, flag_id)
        except NotFound:
            return not_found(request, staff)
        handoff = HandoffService(s.handoffs, s.staff, RasaApi(settings.rasa_url, settings.api_token))
        try:
            if action == "ack":
                await run_in_threadpool(s.flags.acknowledge_flag, flag_id, staff_id, origin="portal")
            elif action == "resolve":
                await run_in_threadpool(s.flags.resolve_flag, flag_id, staff_id, origin="portal")
            elif action == "note":
                await run_in_threadpool(
                    s.portal.add_flag_note, staff_id, flag_id, str(form.get("text") or "")
                )
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
        from bot.patients.enrollment import enroll_patient

        staff = request.state.staff
        therapists = await run_in_threadpool(store().portal.therapists, staff.clinic_id)
        context: dict[str, Any] = {
            "staff": staff,
            "title": "Enroll a patient",
            "therapists": therapists,
            "form": {"timezone": "UTC", "locale": ""},
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
            view = await run_in_threadpool(store().portal.staff_view, chosen[0]) if chosen else None
            therapist_email = view.email if view else ""
        try:
            links = await run_in_threadpool(
                lambda: enroll_patient(
                    store().patients,
                    store().staff,
                    settings,
                    therapist_email=therapist_email,
                    name=values["name"],
                    timezone=values["timezone"] or "UTC",
                    locale=values["locale"] or None,  # from the time zone, else the clinic's country
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
        if not await run_in_threadpool(store().portal.can_see_patient, staff_id, ref):
            return not_found(request, request.state.staff)
        overview_tz = (await run_in_threadpool(store().patients.find_patient, ref)).timezone
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
                lambda: store().schedule.add_dosing_session(
                    ref, at, route, plan=default_plan(), actor=f"staff:{staff_id}", origin="portal"
                )
            )
        except StoreError as exc:
            return RedirectResponse(f"/portal/patients/{ref}?error={quote(str(exc))}", status_code=303)
        return RedirectResponse(f"/portal/patients/{ref}", status_code=303)

    @login_required
    async def trends(request: Request, staff_id: int) -> Response:
        from bot.prompts.readable import item9_above_zero
        from bot.web.portal.charts import GAD7_BANDS, PHQ9_BANDS, Series, chart

        staff = request.state.staff
        try:
            t = await run_in_threadpool(
                store().patient_views.trends_for, staff_id, request.path_params["ref"]
            )
        except NotFound:
            return not_found(request, staff)
        tz, sessions = t["timezone"], t["sessions"]
        # Table rows: (when, value, band, PHQ-9 item 9 when above 0).
        mood = [(a, v, None, None) for a, v in t["mood"]]
        phq9 = [(a, v, b, item9_above_zero("phq9", items)) for a, v, b, items in t["phq9"]]
        gad7 = [(a, v, b, None) for a, v, b, _ in t["gad7"]]
        item9 = "PHQ-9 item 9 (thoughts of self-harm) above 0"
        charts = [
            (
                "Mood (0 very low, 10 very good)",
                chart(Series("Mood", [(a, v) for a, v, *_ in mood], 10, []), sessions, "mood", tz),
                mood,
            ),
            (
                "PHQ-9 (depression)",
                chart(
                    Series(
                        "PHQ-9 total",
                        [(a, v) for a, v, *_ in phq9],
                        27,
                        PHQ9_BANDS,
                        marks=tuple(i for i, row in enumerate(phq9) if row[3]),
                        mark_label=item9,
                    ),
                    sessions,
                    "phq9",
                    tz,
                ),
                phq9,
            ),
            (
                "GAD-7 (anxiety)",
                chart(
                    Series("GAD-7 total", [(a, v) for a, v, *_ in gad7], 21, GAD7_BANDS), sessions, "gad7", tz
                ),
                gad7,
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
            rows = await run_in_threadpool(
                store().patient_views.entries_csv_rows, staff_id, request.path_params["ref"]
            )
        except NotFound:
            return not_found(request, request.state.staff)
        out = io.StringIO()
        writer = csv.writer(out)
        for row in rows:
            # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it as text.
            writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row])
        ref = request.path_params["ref"]
        return attachment(out.getvalue(), "text/csv; charset=utf-8", f"interlude-{ref}-entries.csv")

    @login_required
    async def export_prep_pdf(request: Request, staff_id: int) -> Response:
        from bot.exports import prep_pdf
        from bot.prompts.sets import default_catalogue

        ref = request.path_params["ref"]
        try:
            prep = await run_in_threadpool(store().patient_views.session_prep_for, staff_id, ref)
        except NotFound:
            return not_found(request, request.state.staff)
        clinic = await run_in_threadpool(store().portal.clinic_name_of_staff, staff_id)
        catalogue = default_catalogue()
        body = await run_in_threadpool(prep_pdf.render, prep, catalogue.question, clinic, catalogue)
        return attachment(body, "application/pdf", f"interlude-{ref}-session-prep.pdf")

    @login_required
    async def export_fhir(request: Request, staff_id: int) -> Response:
        import json

        from bot.exports import fhir
        from bot.prompts.sets import default_catalogue

        ref = request.path_params["ref"]
        try:
            data = await run_in_threadpool(store().patient_views.instrument_results_for, staff_id, ref)
        except NotFound:
            return not_found(request, request.state.staff)
        texts = fhir.item_texts(default_catalogue())
        body = fhir.bundle(ref, data["results"], texts, await run_in_threadpool(store().core.now))
        text = json.dumps(body, indent=2, ensure_ascii=False)
        return attachment(text, "application/fhir+json", f"interlude-{ref}-questionnaires.fhir.json")

    @login_required
    async def change_session(request: Request, staff_id: int) -> Response:
        """Move or cancel a planned dosing session; its check-ins are planned again around it."""
        from bot.schedule.plan import default_plan

        ref, session_id = request.path_params["ref"], int(request.path_params["session_id"])
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        owner = await run_in_threadpool(store().schedule.patient_of_session, session_id)
        if (
            owner is None
            or owner.ref != ref
            or not await run_in_threadpool(store().portal.can_see_patient, staff_id, ref)
        ):
            return not_found(request, request.state.staff)
        back = f"/portal/patients/{ref}"
        action = str(form.get("action") or "")
        try:
            if action == "move":
                try:
                    at = datetime.fromisoformat(str(form.get("at") or "")).replace(
                        tzinfo=ZoneInfo(owner.timezone)
                    )
                except ValueError:
                    return RedirectResponse(
                        f"{back}?error={quote('Give the new date and time of the session.')}", status_code=303
                    )
                await run_in_threadpool(
                    lambda: store().schedule.move_dosing_session(
                        session_id, at, plan=default_plan(), actor=f"staff:{staff_id}", origin="portal"
                    )
                )
            elif action == "cancel":
                await run_in_threadpool(
                    lambda: store().schedule.cancel_dosing_session(
                        session_id, plan=default_plan(), actor=f"staff:{staff_id}", origin="portal"
                    )
                )
            else:
                return RedirectResponse(f"{back}?error={quote('Choose move or cancel.')}", status_code=303)
        except StoreError as exc:
            return RedirectResponse(f"{back}?error={quote(str(exc))}", status_code=303)
        return RedirectResponse(back, status_code=303)

    async def home(request: Request) -> Response:
        return RedirectResponse("/portal", status_code=303)

    return [
        Route("/portal/login", login, methods=["GET", "POST"]),
        Route("/portal/login/code", login_code, methods=["GET", "POST"]),
        Route("/portal/logout", logout, methods=["POST"]),
        Route("/portal", today),
        Route("/portal/", home),
        Route("/portal/patients", patients),
        Route("/portal/patients/{ref}", patient),
        Route("/portal/patients/{ref}/transcript", transcript),
        Route("/portal/patients/{ref}/sessions", add_session, methods=["POST"]),
        Route("/portal/patients/{ref}/trends", trends),
        Route("/portal/patients/{ref}/entries.csv", export_csv),
        Route("/portal/patients/{ref}/session-prep.pdf", export_prep_pdf),
        Route("/portal/patients/{ref}/questionnaires.fhir.json", export_fhir),
        Route("/portal/patients/{ref}/sessions/{session_id:int}", change_session, methods=["POST"]),
        Route("/portal/flags/{flag_id:int}", flag),
        Route("/portal/flags/{flag_id:int}/{action}", flag_action, methods=["POST"]),
        Route("/portal/enroll", enroll, methods=["GET", "POST"]),
        *admin_routes(settings, store, login_required),
    ]


def _safety_examples() -> dict:
    """The semantic layer's labelled examples by id, for a flag's "close to: ..." line."""
    from bot.safety.examples import ExamplesError, example_index

    try:
        return example_index()
    except ExamplesError:
        return {}
