"""The `interlude` command. Run `interlude --help`, or `interlude COMMAND --help`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime as datetime_type
from pathlib import Path

from bot.config import PROJECT_ROOT, ConfigError, load_settings

EXIT_USAGE = 2


class UserFacingError(Exception):
    """Raised by commands for errors that are the user's to fix; printed as one line."""


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


# ---------------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import banner, base_env, prepare, services
    from bot.replicas import check_redis, plan_replicas, write_endpoints
    from bot.supervisor import RunLock, Supervisor, check_ports_free, supervise

    settings = load_settings()
    replicas = plan_replicas(settings, args.replicas)  # refuses SQLite with several, first
    lock = RunLock(settings.data_dir)
    lock.acquire()
    if lock.stale_note:
        print(lock.stale_note, flush=True)
    try:
        ports = {"INTERLUDE_HTTP_PORT": settings.http_port}
        for r in replicas:
            suffix = "" if r.index == 1 else f" + {r.index - 1} (replica {r.index})"
            ports[f"INTERLUDE_RASA_PORT{suffix}"] = r.rasa_port
            ports[f"INTERLUDE_ACTIONS_PORT{suffix}"] = r.actions_port
        check_ports_free(ports)
        if len(replicas) > 1:
            check_redis(settings)
            replicas = write_endpoints(settings, replicas)
        prepared = prepare(settings, config=Path(args.config))
        sup = Supervisor(
            services(settings, prepared.model, replicas=replicas, workers=not args.no_workers),
            cwd=PROJECT_ROOT,
            base_env=base_env(settings, dict(os.environ)),
            log_file=settings.data_dir / "logs" / "interlude.log",
            lock=lock,  # children hold it too, so orphans could never share the data folder
        )
        several = f", {len(replicas)} Rasa replicas" if len(replicas) > 1 else ""
        print(f"Starting Interlude (data in {settings.data_dir}{several}) ...", flush=True)
        return asyncio.run(supervise(sup, lambda: sup.say(banner(settings, prepared.demo))))
    finally:
        lock.release()


SERVICE_NAMES = ("actions", "web", "worker", "scheduler", "rasa")


def cmd_prepare(args: argparse.Namespace) -> int:
    """What `interlude run` does before starting anything, minus the demo clinic: for systemd
    (deploy/systemd/interlude-prepare.service), before the per-process units start."""
    from bot.app import check_rasa_files, check_safety_config
    from bot.escalation.config import load_alert_config
    from bot.store import migrate
    from bot.training import ensure_model

    settings = load_settings()
    check_rasa_files(Path(args.config))
    check_safety_config()
    load_alert_config(settings.data_dir, settings.portal_base_url)
    model = ensure_model(Path(args.config))
    migrate.upgrade(settings.database_url)
    print(f"Interlude is prepared: model {model.name}, database at the latest schema.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Become one of `interlude run`'s processes (same argv and environment): for systemd units,
    where systemd supervises each process on its own."""
    from bot.app import base_env, services
    from bot.training import ensure_model

    settings = load_settings()
    model = ensure_model(Path(args.config)) if args.name == "rasa" else Path(os.devnull)
    svc = next(s for s in services(settings, model) if s.name == args.name)
    env = {**base_env(settings, dict(os.environ)), **svc.env}
    sys.stdout.flush()
    os.chdir(PROJECT_ROOT)
    os.execve(svc.argv[0], list(svc.argv), env)  # noqa: S606 - our own argv, no shell
    return 0  # not reached


# ---------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from bot.training import ensure_model

    model = ensure_model(Path(args.config), force=args.force)
    print(model)
    return 0


# ---------------------------------------------------------------------------- chat
def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import ChatClient, repl
    from bot.demo import DEMO_PATIENT_REF

    settings = load_settings()
    client = ChatClient(settings.rasa_url, settings.api_token, args.patient or DEMO_PATIENT_REF)
    return repl(client)


# ---------------------------------------------------------------------------- db
def cmd_db(args: argparse.Namespace) -> int:
    from bot.store import migrate

    settings = load_settings()
    if args.db_command == "upgrade":
        migrate.upgrade(settings.database_url, args.revision)
    elif args.db_command == "downgrade":
        migrate.downgrade(settings.database_url, args.revision)
    print(
        f"Database at revision {migrate.current_revision(settings.database_url) or 'base'} "
        f"(latest {migrate.head_revision()})."
    )
    return 0


# ---------------------------------------------------------------------------- safety
def cmd_safety_check(args: argparse.Namespace) -> int:
    from bot.safety.service import default_detector

    detector = default_detector()

    def emit(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")

    if args.text is not None:
        emit(detector.assess(args.text).to_dict())
        return 0
    errors = 0
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            errors += 1
            emit({"error": f"line {lineno} is not a JSON object with a string 'text' field"})
            continue
        emit(detector.assess(text).to_dict())
    sys.stdout.flush()
    return 1 if errors else 0


def cmd_safety_eval(args: argparse.Namespace) -> int:
    from bot.safety.evaluate import evaluate, rates
    from bot.safety.service import default_detector, rules_detector

    detector = rules_detector() if args.rules_only else default_detector()
    figures = rates(detector, Path(args.file))
    print("\n".join(figures.lines()))
    if args.aggregate_only:  # a blind round: figures only, not one example's words
        return 0
    for miss in figures.misses:
        print(f"  {miss[:160]}")
    print()
    report = evaluate(detector, Path(args.file), threshold=args.threshold)
    print("\n".join(report.lines()))
    return 0


# ---------------------------------------------------------------------------- flags
def _open_store():  # type: ignore[no-untyped-def]
    from bot.runtime import Store

    settings = load_settings()
    return Store.open(settings.database_url, settings.data_dir)


def cmd_flags_list(args: argparse.Namespace) -> int:
    flags = _open_store().flags.list_flags(actor=_actor(), origin="cli")
    if args.json:
        print(json.dumps([f.__dict__ for f in flags], default=str, indent=2))
        return 0
    if not flags:
        print("No open risk flags.")
    for f in flags:
        due = f.deadline_at.strftime("%Y-%m-%d %H:%M UTC") if f.deadline_at else "-"
        print(
            f"#{f.id} {f.severity.upper():8} {f.patient_ref} {', '.join(f.categories) or '-'} "
            f"[{f.status}] messages={f.message_count} acknowledge by {due}"
        )
        for sig in f.signals:
            rules = ", ".join(str(r.get("rule")) for r in sig["rules"])
            print(f"    {sig['at'][:19]} {sig['severity']:8} {rules}")
            print(f'      "{(sig["text"] or "")[:200]}"')
    return 0


def cmd_flags_ack(args: argparse.Namespace) -> int:
    store = _open_store()
    staff_id = store.staff.staff_id_by_email(args.staff)
    if staff_id is None:
        raise UserFacingError(f"No staff account with e-mail {args.staff}.")
    store.flags.acknowledge_flag(args.flag_id, staff_id, origin="cli")
    print(f"Risk flag #{args.flag_id} acknowledged by {args.staff}.")
    return 0


# ---------------------------------------------------------------------------- patient data rights
def cmd_patient_export(args: argparse.Namespace) -> int:
    from bot.exports import write_export

    store = _open_store()
    export = store.rights.export_patient(args.patient, actor=_actor(), origin="cli")
    json_path, html_path = write_export(export, Path(args.out))
    # The patient's own request for a copy (made in the chat) is now carried out.
    done = store.requests.complete_requests(args.patient, "export", actor=_actor(), origin="cli")
    print(f"Wrote {json_path} and {html_path} (owner-only; they contain health information).")
    if done:
        print("The patient's request for a copy is marked done; please send them the files securely.")
    return 0


def cmd_patient_delete(args: argparse.Namespace) -> int:
    if args.confirm != args.patient:
        raise UserFacingError(
            f"Deleting is permanent; repeat the patient id to confirm: --confirm {args.patient}"
        )
    store = _open_store()
    store.rights.delete_patient(args.patient, actor=_actor(), origin="cli")
    store.requests.complete_requests(args.patient, "delete", actor=_actor(), origin="cli")
    print(f"Patient {args.patient} deleted: data key destroyed, identities and transcript removed.")
    return 0


def cmd_patient_enroll(args: argparse.Namespace) -> int:
    from bot.patients.enrollment import enroll_patient

    store = _open_store()
    links = enroll_patient(
        store.patients,
        store.staff,
        load_settings(),
        therapist_email=args.therapist,
        name=args.name,
        timezone=args.timezone,
        locale=args.locale,
        actor=_actor(),
        origin="cli",
    )
    print(json.dumps(links.as_dict(), indent=2))
    return 0


def cmd_patient_links(args: argparse.Namespace) -> int:
    from bot.patients.enrollment import issue_links

    links = issue_links(_open_store().patients, load_settings(), args.patient, actor=_actor(), origin="cli")
    print(json.dumps(links.as_dict(), indent=2))
    return 0


def cmd_patient_revoke_web(args: argparse.Namespace) -> int:
    n = _open_store().patients.revoke_web_tokens(args.patient, actor=_actor(), origin="cli")
    print(f"Withdrew {n} web chat link(s) of {args.patient}; open chats are refused from now on.")
    return 0


# ---------------------------------------------------------------------------- staff
def cmd_staff_add(args: argparse.Namespace) -> int:
    from bot.accounts import MIN_PASSWORD_LENGTH, hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password for the new account: ")
        if password != getpass.getpass("Same password again: "):
            raise UserFacingError("The two passwords differ; nothing was created.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserFacingError(f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if "@" not in args.email or len(args.email) > 254:
        raise UserFacingError(f"{args.email!r} is not an e-mail address.")
    store = _open_store()
    clinic_id = store.staff.ensure_clinic(args.clinic, args.clinic_name or args.clinic)
    staff_id, created = store.staff.ensure_staff(
        clinic_id, args.email, args.name, args.role, hash_password(password)
    )
    if not created:
        raise UserFacingError(f"An account with e-mail {args.email} already exists.")
    print(f"Created {args.role} account #{staff_id} for {args.email} in clinic {args.clinic!r}.")
    return 0


# ---------------------------------------------------------------------------- dosing sessions
SESSION_YEARS_AHEAD = 10


def _local_time(text: str, tz_name: str) -> datetime_type:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        naive = datetime.fromisoformat(text.strip().replace("T", " "))
    except ValueError:
        raise UserFacingError(f"{text!r} is not a date and time like 2026-12-01 10:00.") from None
    at = naive if naive.tzinfo is not None else naive.replace(tzinfo=ZoneInfo(tz_name))
    # Check-ins are planned days around a session: far-off years would overflow the calendar.
    # (Past dates within range get the store's own "in the past" refusal.)
    now = datetime.now(ZoneInfo("UTC"))
    earliest = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
    latest = now.replace(year=now.year + SESSION_YEARS_AHEAD)
    if not earliest <= at <= latest:
        raise UserFacingError(f"{text!r} is out of range: a dosing session must be before {latest:%Y-%m-%d}.")
    return at


def cmd_session(args: argparse.Namespace) -> int:
    from bot.patients.enrollment import validate_timezone
    from bot.schedule.plan import default_plan

    store = _open_store()
    plan = default_plan()
    if args.session_command in ("add", "list"):
        patient = store.patients.find_patient(args.patient)
        if patient is None:
            raise UserFacingError(f"No patient {args.patient!r}.")
    if args.session_command == "add":
        tz = validate_timezone(args.timezone or patient.timezone)
        at = _local_time(args.at, tz)
        sid = store.schedule.add_dosing_session(
            args.patient, at, args.route, plan=plan, actor=_actor(), origin="cli"
        )
        print(f"Dosing session #{sid} recorded for {at:%Y-%m-%d %H:%M %Z}; check-ins planned around it.")
    elif args.session_command == "move":
        owner = store.schedule.patient_of_session(args.session_id)
        if owner is None:
            raise UserFacingError(f"No dosing session {args.session_id}.")
        at = _local_time(args.at, validate_timezone(args.timezone or owner.timezone))
        store.schedule.move_dosing_session(args.session_id, at, plan=plan, actor=_actor(), origin="cli")
        print(f"Dosing session #{args.session_id} moved to {at:%Y-%m-%d %H:%M %Z}; its check-ins moved too.")
    elif args.session_command == "cancel":
        store.schedule.cancel_dosing_session(args.session_id, plan=plan, actor=_actor(), origin="cli")
        print(f"Dosing session #{args.session_id} cancelled; its planned check-ins are removed.")
    else:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(patient.timezone)
        for sess in store.schedule.dosing_sessions(args.patient):
            when = sess.planned_at.astimezone(tz)
            print(f"session #{sess.id}  {when:%a %Y-%m-%d %H:%M %Z}  {sess.route}  {sess.status}")
        for c in store.schedule.scheduled_checkins(args.patient):
            why = f" ({c.reason})" if c.reason else ""
            when = c.due_at.astimezone(tz)
            print(f"  {when:%a %Y-%m-%d %H:%M %Z}  {c.prompt_set:<12} {c.kind:<8} {c.status}{why}")
    return 0


def cmd_checkin_time(args: argparse.Namespace) -> int:
    from bot.schedule.plan import PlanError, default_plan, parse_hhmm

    try:
        at = parse_hhmm(args.time, "the time")
    except PlanError as exc:
        raise UserFacingError(str(exc)) from None
    daily = {"on": True, "off": False}.get(args.daily) if args.daily else None
    _open_store().schedule.set_checkin_preferences(
        args.patient, at=at, daily=daily, plan=default_plan(), origin="cli"
    )
    print(
        f"{args.patient}: check-ins around {at:%H:%M} local time"
        + ("" if daily is None else f", daily {args.daily}")
        + "."
    )
    return 0


# ---------------------------------------------------------------------------- handoff
def cmd_handoff(args: argparse.Namespace) -> int:
    from bot.flags.handoff import HandoffService, RasaApi

    settings = load_settings()
    store = _open_store()
    staff_id = store.staff.staff_id_by_email(args.staff)
    if staff_id is None:
        raise UserFacingError(f"No staff account with e-mail {args.staff}.")
    service = HandoffService(store.handoffs, store.staff, RasaApi(settings.rasa_url, settings.api_token))
    if args.handoff_command == "start":
        service.start(args.patient, staff_id, origin="cli")
        print(f"You have taken over {args.patient}'s conversation; the bot is silent except for safety.")
    elif args.handoff_command == "say":
        service.say(args.patient, staff_id, args.text, origin="cli")
        print("Sent.")
    else:
        service.end(args.patient, staff_id, origin="cli")
        print(f"Handed {args.patient}'s conversation back to Interlude.")
    return 0


# ---------------------------------------------------------------------------- keys
def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from bot.store import crypto

    settings = load_settings()
    if os.environ.get("INTERLUDE_MASTER_KEY"):
        raise UserFacingError(
            "The master key comes from INTERLUDE_MASTER_KEY; rotate it there (new key first, "
            "old keys after it) and restart; re-wrapping env-managed keys is not supported yet."
        )
    store = _open_store()
    old = crypto.load_master_keys(settings.data_dir, create=False)
    if args.retire_old:
        newest = crypto.Keyring(old[:1])
        if not store.vault.all_wraps_open_with(newest):
            raise UserFacingError(
                "Some data keys still need an older key; run `interlude keys rotate` first."
            )
        spool = settings.data_dir / "spool"
        if spool.is_dir() and any(spool.glob("*.rec")):
            raise UserFacingError(
                "The outage spool still holds records under older keys; wait for it to empty."
            )
        crypto.write_key_file(settings.data_dir, old[:1])
        print(f"Retired {len(old) - 1} older master key(s).")
        return 0
    new = crypto.Fernet.generate_key()
    # Key file first: if re-wrapping fails half-way, every wrap still opens with some key in it.
    crypto.write_key_file(settings.data_dir, [new, *old])
    n = store.vault.rewrap_all(crypto.Keyring([new, *old]), actor=_actor())
    print(
        f"Re-wrapped {n} patient key(s) under a new master key. Older keys stay in "
        f"{crypto.master_key_path(settings.data_dir)} until `interlude keys rotate --retire-old`."
    )
    return 0


# ---------------------------------------------------------------------------- demo, validate
def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import seed_demo
    from bot.store import migrate

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    info = seed_demo(_open_store(), settings)
    print(json.dumps(info.__dict__, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.validate import validate_training_data

    problems = validate_training_data(Path(args.config))
    for p in problems:
        print(p)
    print("Training data and domain are valid." if not problems else f"{len(problems)} problem(s).")
    return 1 if problems else 0


def cmd_status(args: argparse.Namespace) -> int:
    """What the public landing page no longer shows: where things run, for the operator."""
    import urllib.request

    settings = load_settings()

    def up(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=3):  # noqa: S310 - our own loopback services
                return True
        except OSError:
            return False

    database = settings.database_url.split("://", 1)[0].split("+", 1)[0]
    print(
        json.dumps(
            {
                "web_app": {"url": settings.web_url, "up": up(f"{settings.web_url}/healthz")},
                "rasa": {"url": settings.rasa_url, "up": up(settings.rasa_url)},
                "action_server": {"url": settings.actions_url, "up": up(f"{settings.actions_url}/health")},
                "data_dir": str(settings.data_dir),
                "database": database,
                "telegram": settings.telegram_mode if settings.telegram_token else "off",
            },
            indent=2,
        )
    )
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interlude",
        description="Interlude: a between-session integration companion for KAP clinics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="train if needed, migrate, and run every process (make run)")
    p.add_argument("--config", default="config.yml", help="Rasa config to train with")
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="Rasa servers (each with its own action server) sharing PostgreSQL and Redis (default 1)",
    )
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="leave out the escalation worker, the scheduler and the Telegram poller "
        "(further machines of a deployment; one machine runs them)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("prepare", help="check files, train if needed and migrate, then exit (systemd)")
    p.add_argument("--config", default="config.yml", help="Rasa config to train with")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("serve", help="run one of the processes in the foreground (systemd units)")
    p.add_argument("name", choices=SERVICE_NAMES)
    p.add_argument("--config", default="config.yml", help="Rasa config whose model to serve")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("train", help="train the Rasa model unless a cached one matches")
    p.add_argument("--config", default="config.yml", help="Rasa config (tests use tests/config.test.yml)")
    p.add_argument("--force", action="store_true", help="train even if a cached model matches")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("chat", help="talk to the running assistant as a patient, in the terminal")
    p.add_argument("--patient", help="patient id (default: the demo patient)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("db", help="database schema migrations")
    dbs = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    q = dbs.add_parser("upgrade", help="upgrade to the latest schema (or REVISION)")
    q.add_argument("revision", nargs="?", default="head")
    q = dbs.add_parser("downgrade", help="downgrade to REVISION (e.g. base)")
    q.add_argument("revision")
    dbs.add_parser("current", help="show the current revision")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("safety", help="the risk detector")
    ss = p.add_subparsers(dest="safety_command", required=True, metavar="ACTION")
    q = ss.add_parser(
        "check",
        help='assess JSON lines {"text": ...} from stdin, one JSON line out per line in',
    )
    q.add_argument("--text", help="assess this one text instead of reading stdin")
    q.set_defaults(func=cmd_safety_check)
    q = ss.add_parser("eval", help="per-category recall and false alarms on a labelled JSON-lines file")
    q.add_argument("file", help='lines of {"text", "categories", "min_severity"}')
    q.add_argument("--threshold", default="moderate", help="severity that takes the safety path")
    q.add_argument("--rules-only", action="store_true", help="the lexicon rules without the semantic layer")
    q.add_argument(
        "--aggregate-only", action="store_true", help="print figures only, no example text (blind rounds)"
    )
    q.set_defaults(func=cmd_safety_eval)

    p = sub.add_parser("flags", help="risk flags waiting for a human")
    fs = p.add_subparsers(dest="flags_command", required=True, metavar="ACTION")
    q = fs.add_parser("list", help="open and acknowledged flags, most severe first (audited)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_flags_list)
    q = fs.add_parser("ack", help="acknowledge a flag as a staff member (audited)")
    q.add_argument("flag_id", type=int)
    q.add_argument("--staff", required=True, help="the acknowledging staff member's e-mail")
    q.set_defaults(func=cmd_flags_ack)

    p = sub.add_parser("patient", help="patients: enroll, links, export, delete")
    ps = p.add_subparsers(dest="patient_command", required=True, metavar="ACTION")
    q = ps.add_parser("enroll", help="create a patient; print their Telegram code and web chat link as JSON")
    q.add_argument("--therapist", required=True, help="the treating therapist's staff e-mail")
    q.add_argument("--name", required=True, help="the patient's name (stored encrypted)")
    q.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/London (default UTC)")
    q.add_argument(
        "--locale",
        default=None,
        help="picks crisis resources, e.g. en-GB (default: from --timezone, else INTERLUDE_CLINIC_COUNTRY)",
    )
    q.set_defaults(func=cmd_patient_enroll)
    q = ps.add_parser("links", help="issue a new Telegram code and web chat link (the old link stops)")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.set_defaults(func=cmd_patient_links)
    q = ps.add_parser("revoke-web", help="withdraw a patient's web chat link(s)")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.set_defaults(func=cmd_patient_revoke_web)
    q = ps.add_parser("export", help="write everything about one patient as JSON and HTML (audited)")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.add_argument("--out", default=".", help="folder to write the two files into")
    q.set_defaults(func=cmd_patient_export)
    q = ps.add_parser("delete", help="crypto-shred one patient (permanent; audited)")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.add_argument("--confirm", default="", help="the same patient id again")
    q.set_defaults(func=cmd_patient_delete)

    p = sub.add_parser("staff", help="staff accounts for the portal")
    st = p.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    q = st.add_parser("add", help="create a staff account (the first clinic admin, or a therapist)")
    q.add_argument("--email", required=True)
    q.add_argument("--name", required=True, help="the name patients and colleagues see")
    q.add_argument("--role", choices=("admin", "therapist"), default="therapist")
    q.add_argument("--clinic", default="demo", help="the clinic's short name (created if new)")
    q.add_argument("--clinic-name", help="the clinic's full name, when creating it")
    q.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    q.set_defaults(func=cmd_staff_add)

    p = sub.add_parser("session", help="dosing sessions: check-ins are planned around them")
    ss2 = p.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    q = ss2.add_parser("add", help="record a planned session (local time of the patient)")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.add_argument("--at", required=True, help='local date and time, e.g. "2026-12-01 10:00"')
    q.add_argument("--route", default="sublingual", help="iv, im, sublingual, intranasal or other")
    q.add_argument("--timezone", help="read --at in this time zone instead of the patient's")
    q.set_defaults(func=cmd_session)
    q = ss2.add_parser("move", help="move a planned session; its check-ins move with it")
    q.add_argument("session_id", type=int)
    q.add_argument("--at", required=True, help='new local date and time, e.g. "2026-12-02 10:00"')
    q.add_argument("--timezone", help="read --at in this time zone instead of the patient's")
    q.set_defaults(func=cmd_session)
    q = ss2.add_parser("cancel", help="cancel a planned session and its planned check-ins")
    q.add_argument("session_id", type=int)
    q.set_defaults(func=cmd_session)
    q = ss2.add_parser("list", help="a patient's sessions and scheduled check-ins, in their local time")
    q.add_argument("patient", help="the patient id (pt_...)")
    q.set_defaults(func=cmd_session)

    p = sub.add_parser("checkin-time", help="a patient's preferred check-in time (and daily check-ins)")
    p.add_argument("patient", help="the patient id (pt_...)")
    p.add_argument("time", help="local time, e.g. 20:00 or 8pm")
    p.add_argument("--daily", choices=("on", "off"), help="daily check-ins at that time")
    p.set_defaults(func=cmd_checkin_time)

    p = sub.add_parser("handoff", help="a clinician takes over a patient's conversation (audited)")
    hs = p.add_subparsers(dest="handoff_command", required=True, metavar="ACTION")
    for name, text in (
        ("start", "take over (needs an open risk flag)"),
        ("say", "write to the patient"),
        ("end", "hand the conversation back to Interlude"),
    ):
        q = hs.add_parser(name, help=text)
        q.add_argument("patient", help="the patient id (pt_...)")
        q.add_argument("--staff", required=True, help="your staff e-mail")
        if name == "say":
            q.add_argument("text", help="the message")
        q.set_defaults(func=cmd_handoff)

    p = sub.add_parser("keys", help="master key management")
    ks = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    q = ks.add_parser("rotate", help="add a new master key and re-wrap every data key under it")
    q.add_argument("--retire-old", action="store_true", help="drop older keys once nothing needs them")
    q.set_defaults(func=cmd_keys_rotate)

    p = sub.add_parser("demo", help="create the demo clinic if missing and print its logins")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("status", help="where the web app, Rasa and the data are, and whether they answer")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("validate", help="rasa data validate, failing on any unexplained warning")
    p.add_argument("--config", default="config.yml")
    p.set_defaults(func=cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    # This process never runs Rasa or TensorFlow (training and serving are child processes);
    # thinc would otherwise import TensorFlow just to probe for it, costing seconds and log noise.
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from sqlalchemy.exc import OperationalError

    from bot.escalation.config import AlertConfigError
    from bot.patients.enrollment import EnrollmentError
    from bot.safety.examples import ExamplesError
    from bot.safety.lexicon import LexiconError
    from bot.safety.resources import ResourcesError
    from bot.schedule.plan import PlanError
    from bot.store.crypto import KeyError_
    from bot.store.errors import StoreError
    from bot.supervisor import SupervisorError
    from bot.training import TrainingError

    try:
        return func(args)
    except (
        AlertConfigError,
        ConfigError,
        EnrollmentError,
        ExamplesError,
        KeyError_,
        PlanError,
        LexiconError,
        ResourcesError,
        StoreError,
        SupervisorError,
        TrainingError,
        UserFacingError,
    ) as exc:
        print(f"interlude: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as exc:
        from bot.store.core import redact_url

        url = os.environ.get("INTERLUDE_DATABASE_URL", "the default SQLite file")
        print(
            f"interlude: cannot use the database set by INTERLUDE_DATABASE_URL ({redact_url(url)}):"
            f" {str(exc.orig).strip().splitlines()[0]}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into something that stopped reading (| head): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
