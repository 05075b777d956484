"""Portal pages for clinic admins (staff accounts, alert contacts and deadlines, the audit log)
and for every signed-in person's own account (two-step sign-in).

Admin pages are a 404 for anyone who is not an admin of that clinic, like any page that is not
theirs to see. Changes go through the store (validated, audited) or, for alerts.yml, through
`save_clinic_alerts`, which validates the whole file before writing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.config import Settings
from bot.runtime import Store
from bot.store.errors import NotFound, StoreError
from bot.web.portal.pages import form_of, not_found, page, qr_svg
from bot.web.portal.sessions import session_id

Guard = Callable[[Callable[[Request, int], Awaitable[Response]]], Callable[..., Any]]
SEVERITIES = ("critical", "high", "moderate", "low")


def admin_routes(settings: Settings, store: Callable[[], Store], login_required: Guard) -> list[Route]:
    def admin_only(handler: Callable[[Request, Any], Awaitable[Response]]) -> Callable[..., Any]:
        """Signed in as a clinic admin, else 404; POSTs also need a valid form (CSRF, size).
        The handler gets the admin's StaffView and, for a POST, the form as `request.state.form`."""

        @login_required
        async def wrapped(request: Request, staff_id: int) -> Response:
            staff = request.state.staff  # read by login_required
            if staff.role != "admin":
                return not_found(request, staff)
            if request.method == "POST":
                form = await form_of(request)
                if isinstance(form, Response):
                    return form
                request.state.form = form
            return await handler(request, staff)

        return wrapped

    # ---------------------------------------------------------------- staff accounts
    @admin_only
    async def staff_page(request: Request, admin: Any) -> Response:
        staff_id = admin.id
        context: dict[str, Any] = {
            "staff": admin,
            "title": "Staff accounts",
            "form": {"role": "therapist"},
            "error": request.query_params.get("error"),
            "notice": request.query_params.get("notice"),
        }
        status = 200
        if request.method == "POST":
            form = request.state.form
            values = {k: str(form.get(k) or "") for k in ("email", "name", "role", "password")}
            try:
                await run_in_threadpool(
                    lambda: store().staff_admin.add_staff(
                        staff_id,
                        email=values["email"],
                        name=values["name"],
                        role=values["role"],
                        password=values["password"],
                    )
                )
            except StoreError as exc:
                context["error"], status = str(exc), 400
                context["form"] = {k: v for k, v in values.items() if k != "password"}
            else:
                notice = f"Created {values['role']} account for {values['email'].strip().lower()}."
                return RedirectResponse(
                    "/portal/admin/staff?" + urlencode({"notice": notice}), status_code=303
                )
        context["rows"] = await run_in_threadpool(store().staff_admin.staff_list, staff_id)
        return page(request, "admin_staff.html", context, status)

    @admin_only
    async def staff_update(request: Request, admin: Any) -> Response:
        form = request.state.form
        target = int(request.path_params["target"])
        action = str(form.get("action") or "")
        changes: dict[str, Any] = {}
        if action == "save":
            changes = {
                "role": str(form.get("role") or ""),
                "telegram_user_id": str(form.get("telegram_user_id") or ""),
            }
        elif action in ("disable", "enable"):
            changes = {"disabled": action == "disable"}
        elif action == "reset_totp":
            changes = {"reset_totp": True}
        elif action == "end_sessions":
            try:
                n = await run_in_threadpool(store().staff_admin.end_staff_sessions, admin.id, target)
            except NotFound:
                return not_found(request, admin)
            notice = f"Ended {n} open session{'' if n == 1 else 's'}."
            return RedirectResponse("/portal/admin/staff?" + urlencode({"notice": notice}), status_code=303)
        else:
            return RedirectResponse(
                "/portal/admin/staff?" + urlencode({"error": "Unknown action."}), status_code=303
            )
        try:
            await run_in_threadpool(lambda: store().staff_admin.update_staff(admin.id, target, **changes))
        except NotFound:
            return not_found(request, admin)
        except StoreError as exc:
            return RedirectResponse("/portal/admin/staff?" + urlencode({"error": str(exc)}), status_code=303)
        return RedirectResponse("/portal/admin/staff?" + urlencode({"notice": "Saved."}), status_code=303)

    # ---------------------------------------------------------------- alert contacts and deadlines
    @admin_only
    async def alerts_page(request: Request, admin: Any) -> Response:
        from bot.escalation.config import (
            AlertConfigError,
            format_duration,
            load_alert_config,
            save_clinic_alerts,
        )

        slug = await run_in_threadpool(store().staff.clinic_slug, admin.clinic_id)
        context: dict[str, Any] = {"staff": admin, "title": "Alert contacts and deadlines", "slug": slug}
        status = 200
        try:
            config = load_alert_config(settings.data_dir, settings.portal_base_url)
        except AlertConfigError as exc:
            config, context["error"] = None, f"alerts.yml cannot be read: {exc}"
        if request.method == "POST":
            values = {k: str(v) for k, v in request.state.form.items() if k != "csrf"}
            try:
                await run_in_threadpool(
                    lambda: save_clinic_alerts(
                        settings.data_dir, slug, values, public_url=settings.portal_base_url
                    )
                )
            except AlertConfigError as exc:
                context["error"], status = str(exc), 400
                context["values"] = values
            else:
                await run_in_threadpool(
                    store().portal.audit_staff,
                    admin.id,
                    "alerts.update",
                    origin="portal",
                    detail={"clinic": slug},
                )
                return RedirectResponse("/portal/admin/alerts?saved=1", status_code=303)
        if "values" not in context:
            c = config.for_clinic(slug) if config is not None else None
            context["values"] = (
                {
                    "telegram_chat": c.telegram_chat or "",
                    "telegram_backup_chat": c.telegram_backup_chat or "",
                    "email_to": ", ".join(c.email_to),
                    "email_backup_to": ", ".join(c.email_backup_to),
                    "webhook_url": c.webhook_url or "",
                    **{
                        f"deadline_{sev}": format_duration(c.deadlines[sev])
                        for sev in SEVERITIES
                        if sev in c.deadlines
                    },
                }
                if c is not None
                else {}
            )
        if request.query_params.get("saved"):
            context["notice"] = (
                "Saved. The alert worker uses the new contacts and deadlines from its next round."
            )
        context["channels"] = {
            "telegram": bool(config and config.telegram_token),
            "email": bool(config and config.smtp),
        }
        context["severities"] = SEVERITIES
        return page(request, "admin_alerts.html", context, status)

    # ---------------------------------------------------------------- audit log
    @admin_only
    async def audit_page(request: Request, admin: Any) -> Response:
        staff_id = admin.id
        q = request.query_params
        filters = {"patient": q.get("patient", "").strip(), "action": q.get("action", "").strip()}
        context: dict[str, Any] = {"staff": admin, "title": "Audit log", "filters": filters, "rows": []}
        try:
            actor = int(q["actor"]) if q.get("actor") else None
            before = int(q["before"]) if q.get("before") else None
        except ValueError:
            context["error"] = "The filter values are not valid."
            return page(request, "admin_audit.html", context, 400)
        filters["actor"] = actor
        staff_rows = await run_in_threadpool(store().staff_admin.staff_list, staff_id)
        context["people"] = {row.id: row.name for row in staff_rows}
        try:
            rows = await run_in_threadpool(
                lambda: store().staff_admin.audit_log(
                    staff_id,
                    patient=filters["patient"],
                    actor_id=actor,
                    action=filters["action"],
                    before=before,
                )
            )
        except StoreError as exc:
            context["error"] = str(exc)
            return page(request, "admin_audit.html", context, 400)
        context["rows"] = rows
        if len(rows) == 100:
            more = {k: v for k, v in {**filters, "before": rows[-1].id}.items() if v not in (None, "")}
            context["older"] = "/portal/admin/audit?" + urlencode(more)
        return page(request, "admin_audit.html", context)

    @admin_only
    async def reassign(request: Request, admin: Any) -> Response:
        form = request.state.form
        ref = request.path_params["ref"]
        back = f"/portal/patients/{ref}"
        try:
            therapist = int(str(form.get("therapist") or ""))
            await run_in_threadpool(store().staff_admin.reassign_patient, admin.id, ref, therapist)
        except ValueError:
            return RedirectResponse(back + "?" + urlencode({"error": "Choose a therapist."}), status_code=303)
        except NotFound:
            return not_found(request, admin)
        except StoreError as exc:
            return RedirectResponse(back + "?" + urlencode({"error": str(exc)}), status_code=303)
        return RedirectResponse(back, status_code=303)

    @login_required
    async def account_password(request: Request, staff_id: int) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        new, repeat = str(form.get("new") or ""), str(form.get("repeat") or "")
        if new != repeat:
            return RedirectResponse(
                "/portal/account?" + urlencode({"error": "The two new passwords differ."}), status_code=303
            )
        try:
            await run_in_threadpool(
                lambda: store().staff_admin.change_password(
                    staff_id, str(form.get("current") or ""), new, keep_session=session_id(request)
                )
            )
        except StoreError as exc:
            return RedirectResponse("/portal/account?" + urlencode({"error": str(exc)}), status_code=303)
        # This session stays signed in; every other one (another browser, a stolen cookie) was
        # deleted by the store.
        request.session["stamp"] = (
            await run_in_threadpool(store().portal.staff_view, staff_id)
        ).credential_stamp
        return RedirectResponse(
            "/portal/account?" + urlencode({"notice": "Password changed."}), status_code=303
        )

    # ---------------------------------------------------------------- own account: two-step sign-in
    @login_required
    async def account(request: Request, staff_id: int) -> Response:
        staff = request.state.staff
        context: dict[str, Any] = {
            "staff": staff,
            "title": "Your account",
            "notice": request.query_params.get("notice"),
        }
        pending = (
            None if staff.totp else await run_in_threadpool(store().staff_admin.totp_pending_secret, staff_id)
        )
        if pending:
            from bot.totp import provisioning_uri

            clinic = await run_in_threadpool(store().portal.clinic_name_of_staff, staff_id)
            uri = provisioning_uri(pending, staff.email, f"Interlude ({clinic})")
            context.update(secret=pending, qr=qr_svg(uri))
        context["error"] = request.query_params.get("error")
        context["sessions"] = await run_in_threadpool(
            lambda: store().portal_sessions.sessions_of(staff_id, session_id(request))
        )
        return page(request, "account.html", context)

    @login_required
    async def account_sessions_end(request: Request, staff_id: int) -> Response:
        """Sign out everywhere: every session of this person ends, this one included."""
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        await run_in_threadpool(
            lambda: store().portal_sessions.end_sessions(staff_id, reason="sign_out_everywhere")
        )
        request.session.clear()
        return RedirectResponse("/portal/login", status_code=303)

    @login_required
    async def account_totp(request: Request, staff_id: int) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        action = request.path_params["action"]
        code = str(form.get("code") or "")
        s = store()
        if action == "begin":
            try:
                await run_in_threadpool(s.staff_admin.totp_begin, staff_id)
            except StoreError as exc:
                return RedirectResponse("/portal/account?" + urlencode({"error": str(exc)}), status_code=303)
            return RedirectResponse("/portal/account", status_code=303)
        if action == "enable":
            ok = await run_in_threadpool(lambda: s.staff_admin.totp_check(staff_id, code, enable=True))
            message = (
                {"notice": "Two-step sign-in is on. You will be asked for a code each time you sign in."}
                if ok
                else {"error": "That code is not right. Check the time on your phone and try the next code."}
            )
            return RedirectResponse("/portal/account?" + urlencode(message), status_code=303)
        if action == "disable":
            ok = await run_in_threadpool(s.staff_admin.totp_disable, staff_id, code)
            message = {"notice": "Two-step sign-in is off."} if ok else {"error": "That code is not right."}
            return RedirectResponse("/portal/account?" + urlencode(message), status_code=303)
        return not_found(request, request.state.staff)

    return [
        Route("/portal/admin/staff", staff_page, methods=["GET", "POST"]),
        Route("/portal/admin/staff/{target:int}", staff_update, methods=["POST"]),
        Route("/portal/admin/alerts", alerts_page, methods=["GET", "POST"]),
        Route("/portal/admin/audit", audit_page),
        Route("/portal/patients/{ref}/therapist", reassign, methods=["POST"]),
        Route("/portal/account", account),
        Route("/portal/account/password", account_password, methods=["POST"]),
        Route("/portal/account/sessions/end", account_sessions_end, methods=["POST"]),
        Route("/portal/account/totp/{action}", account_totp, methods=["POST"]),
    ]
