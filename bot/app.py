"""What `interlude run` does: prepare everything, then supervise the processes.

The integration tests call the same functions with other ports and data folders, so what is
tested is what users run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import PROJECT_ROOT, ConfigError, Settings
from bot.demo import DemoInfo, seed_demo
from bot.replicas import Replica
from bot.runtime import Store
from bot.safety.lexicon import LexiconError
from bot.safety.resources import ResourcesError, coverage_text, resources_for
from bot.store import migrate
from bot.supervisor import Service
from bot.training import ensure_model
from bot.yamlfile import read_yaml


@dataclass(frozen=True)
class Prepared:
    model: Path
    demo: DemoInfo


def check_safety_config() -> None:
    """Load the lexicon, crisis resources and prompt sets now, so a broken file stops start-up
    with one clear sentence."""
    from bot.channels.wording import WordingError
    from bot.channels.wording import check as check_channel_wording
    from bot.patients.consent import ConsentError, consent_text
    from bot.prompts.sets import PromptSetError, load_catalogue
    from bot.safety.lexicon import load_lexicon
    from bot.safety.replies import RepliesError
    from bot.safety.replies import check as check_replies
    from bot.safety.screener import ScreenerError
    from bot.safety.screener import wording as screener_wording
    from bot.safety.service import lexicon_paths
    from bot.schedule.plan import PLAN_FILE, PlanError, load_plan

    try:
        load_lexicon(lexicon_paths())
        resources_for("en-US")
        for alerts, on_call in ((False, False), (True, False), (True, True)):
            coverage_text(alerts=alerts, on_call_cover=on_call)
        catalogue = load_catalogue()
        consent_text(alerts=False)
        check_replies()
        screener_wording()
        check_channel_wording()
        load_plan(PLAN_FILE, set(catalogue.sets))  # the plan names only prompt sets that exist
    except (
        LexiconError,
        ResourcesError,
        PromptSetError,
        ConsentError,
        WordingError,
        PlanError,
        RepliesError,
        ScreenerError,
    ) as exc:
        raise ConfigError(str(exc)) from None


RASA_FILES = ("config.yml", "domain.yml", "credentials.yml", "endpoints.yml")


def check_rasa_files(config: Path, root: Path = PROJECT_ROOT) -> None:
    """Malformed YAML stops start-up with one sentence naming the file and line."""
    for path in [root / name for name in RASA_FILES[1:]] + [
        config if config.is_absolute() else root / config
    ]:
        read_yaml(path, ConfigError)


def prepare(settings: Settings, *, config: Path, log: Callable[[str], None] = print) -> Prepared:
    """Train if needed, migrate the database, check keys and safety files, seed the demo."""
    check_rasa_files(config)
    check_safety_config()
    from bot.escalation.config import load_alert_config

    load_alert_config(settings.data_dir, settings.portal_base_url)  # a bad alerts.yml stops start-up
    model = ensure_model(config, log=log)
    migrate.upgrade(settings.database_url)
    store = Store.open(settings.database_url, settings.data_dir)
    demo = seed_demo(store, settings)
    return Prepared(model, demo)


def services(
    settings: Settings,
    model: Path,
    *,
    python: str = sys.executable,
    replicas: Sequence[Replica] | None = None,
    workers: bool = True,
) -> list[Service]:
    """The processes of one Interlude box (see README, "How the pieces fit").

    With several replicas (bot/replicas.py) there is one Rasa server and one action server per
    replica (rasa-1, actions-1, ...), each restarted on its own by the supervisor; the web app
    spreads traffic over the Rasa servers. The workers and the Telegram poller run once (on
    one machine: `workers=False` on the others)."""
    common = {"LOG_LEVEL": settings.log_level}
    reps = list(replicas or [Replica(1, settings.rasa_port, settings.actions_port)])
    several = len(reps) > 1

    def name(base: str, replica: Replica) -> str:
        return f"{base}-{replica.index}" if several else base

    actions = [
        Service(
            name("actions", r),
            [python, "-m", "bot.rasa_ext.serve", "actions"],
            ready_url=f"http://127.0.0.1:{r.actions_port}/health",
            env={**common, "INTERLUDE_ACTIONS_PORT": str(r.actions_port)},
            ready_timeout=120,
        )
        for r in reps
    ]
    web = Service(
        "web",
        [
            python,
            "-m",
            "uvicorn",
            "bot.web.app:create_app",
            "--factory",
            "--host",
            settings.http_host,
            "--port",
            str(settings.http_port),
            "--no-access-log",  # URLs will carry personal chat tokens: keep them out of logs
            "--ws",
            "none",  # uvicorn's websocket probe fails on Rasa's pinned websockets 10
            "--log-level",
            settings.log_level.lower(),
        ],
        ready_url=f"{settings.web_url}/healthz",
        env={**common, "INTERLUDE_RASA_URLS": ",".join(r.rasa_url for r in reps)},
        ready_timeout=60,
    )
    background = [
        Service("worker", [python, "-m", "bot.workers", "escalation"], env=common),
        Service("scheduler", [python, "-m", "bot.workers", "scheduler"], env=common),
    ]
    rasa = []
    for r in reps:
        env = {
            **common,
            "INTERLUDE_MODEL_PATH": str(model),
            "INTERLUDE_RASA_PORT": str(r.rasa_port),
            "INTERLUDE_ACTIONS_PORT": str(r.actions_port),
            # Telegram allows one getUpdates caller per bot: the first replica polls, where the
            # workers run; every replica sends, and takes webhook updates.
            "INTERLUDE_TELEGRAM_POLLER": "1" if r.index == 1 and workers else "0",
        }
        if r.endpoints is not None:
            env["INTERLUDE_RASA_ENDPOINTS"] = str(r.endpoints)
        if several:  # web chat messages for sockets held by another replica (relay.py)
            env["INTERLUDE_WEBCHAT_RELAY"] = "1"
        rasa.append(
            Service(
                name("rasa", r),
                [python, "-m", "bot.rasa_ext.serve", "rasa"],
                ready_url=f"{r.rasa_url}/status?token={settings.api_token}",
                env=env,
                ready_timeout=300,
            )
        )
    return [*actions, web, *(background if workers else []), *rasa]


def base_env(settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """The environment every child gets: the validated settings plus quiet library logs."""
    return {
        **environ,
        **settings.child_env(),
        "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "LOG_LEVEL_LIBRARIES": "ERROR",
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def alerts_line(settings: Settings) -> str:
    from bot.escalation.config import load_alert_config

    config = load_alert_config(settings.data_dir, settings.portal_base_url)
    routes = [f"{slug}: {', '.join(c.channels())}" for slug, c in config.clinics.items() if c.channels()]
    if routes:
        return "; ".join(routes)
    return (
        "NOT CONFIGURED: nobody is alerted; flags show on the portal's Today page and in "
        f"`interlude flags list`. To send alerts, write {config.source} (README: Alerts)"
    )


def telegram_line(settings: Settings, demo: DemoInfo) -> str:
    if not settings.telegram_token:
        return "off (set INTERLUDE_TELEGRAM_TOKEN to a bot token from @BotFather to turn it on)"
    how = "webhook at " + settings.portal_base_url + settings.telegram_webhook_path
    if settings.telegram_mode == "polling":
        how = "polling"
    link = f"; demo patient joins with {demo.telegram_link}" if demo.telegram_link else ""
    return f"on ({how}){link}"


def banner(settings: Settings, demo: DemoInfo) -> str:
    return "\n".join(
        [
            "",
            "=" * 72,
            "Interlude is ready (synthetic demo data only).",
            f"  Web app:        {settings.web_url}/",
            "  Talk to it:     make chat   (in another terminal; you are the demo patient)",
            f"  Demo patient:   {demo.patient_ref}",
            f"  Demo therapist: {demo.therapist_email} / {demo.therapist_password}",
            f"  Demo admin:     {demo.admin_email} / {demo.admin_password}",
            f"  Portal:         {settings.web_url}/portal  (passwords kept in {settings.secrets_dir}/)",
            "  Risk flags:     .venv/bin/interlude flags list",
            f"  Alerts:         {alerts_line(settings)}",
            f"  Web chat:       {demo.web_chat_url or '-'}",
            f"  Telegram:       {telegram_line(settings, demo)}",
            "  Stop:           Ctrl-C",
            "=" * 72,
        ]
    )
