"""Where clinician alerts go, per clinic: `alerts.yml` (INTERLUDE_ALERTS_FILE, default
`<data dir>/alerts.yml`). Secrets are never in the file: it names environment variables.

    telegram:                       # a staff-only alert bot (not the patients' bot)
      token_env: INTERLUDE_TELEGRAM_ALERT_TOKEN
    email:
      host: smtp.example.org
      port: 587
      starttls: true
      username_env: INTERLUDE_SMTP_USERNAME
      password_env: INTERLUDE_SMTP_PASSWORD
      from: interlude-alerts@example.org
    clinics:
      demo:                         # clinic slug
        telegram: {chat_id: "-1001234", backup_chat_id: "-1005678"}
        email: {to: [oncall@example.org], backup_to: [lead@example.org]}
        webhook: {url: "https://pager.example.org/hooks/interlude", secret_env: INTERLUDE_WEBHOOK_SECRET}
        deadlines: {critical: 5m, high: 30m, moderate: 24h}
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.store.api import DEFAULT_ACK_DEADLINES
from bot.yamlfile import read_yaml

CHANNELS = ("telegram", "email", "webhook")


class AlertConfigError(Exception):
    """The alert configuration is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class ClinicAlerts:
    telegram_chat: str | None = None
    telegram_backup_chat: str | None = None
    email_to: tuple[str, ...] = ()
    email_backup_to: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_secret: str | None = None
    deadlines: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_ACK_DEADLINES))

    def channels(self) -> list[str]:
        """Channels with a primary contact, in the order they are tried."""
        out = []
        if self.telegram_chat:
            out.append("telegram")
        if self.email_to:
            out.append("email")
        if self.webhook_url:
            out.append("webhook")
        return out


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    sender: str
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class AlertConfig:
    clinics: Mapping[str, ClinicAlerts]
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    smtp: SmtpSettings | None = None
    public_url: str = ""
    source: str = "(none)"

    def for_clinic(self, slug: str) -> ClinicAlerts:
        return self.clinics.get(slug) or ClinicAlerts()


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def parse_duration(value: Any, where: str) -> timedelta:
    if isinstance(value, int) and value > 0:
        return timedelta(seconds=value)
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) == 0:
        raise AlertConfigError(f"{where} must be a duration like 5m, 30m, 24h or 1d, not {value!r}.")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})


def _env(env: Mapping[str, str], name: Any, where: str, *, required: bool) -> str | None:
    if not name:
        if required:
            raise AlertConfigError(f"{where} needs the name of an environment variable.")
        return None
    value = env.get(str(name), "").strip()
    if required and not value:
        raise AlertConfigError(f"{where}: the environment variable {name} is not set.")
    return value or None


def _list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and "@" in x for x in items):
        raise AlertConfigError(f"{where} must be an e-mail address or a list of them.")
    return tuple(items)


def parse_alert_config(data: Any, source: str, env: Mapping[str, str], *, public_url: str) -> AlertConfig:
    data = data or {}
    if not isinstance(data, dict):
        raise AlertConfigError(f"{source} must be a YAML mapping.")
    tg = data.get("telegram") or {}
    token = _env(env, tg.get("token_env"), f"{source}: telegram.token_env", required=bool(tg))
    smtp = None
    if data.get("email"):
        e = data["email"]
        for key in ("host", "from"):
            if not e.get(key):
                raise AlertConfigError(f"{source}: email.{key} is required.")
        smtp = SmtpSettings(
            host=str(e["host"]),
            port=int(e.get("port", 25)),
            starttls=bool(e.get("starttls", False)),
            sender=str(e["from"]),
            username=_env(env, e.get("username_env"), f"{source}: email.username_env", required=False),
            password=_env(env, e.get("password_env"), f"{source}: email.password_env", required=False),
        )
    clinics: dict[str, ClinicAlerts] = {}
    for slug, c in (data.get("clinics") or {}).items():
        where = f"{source}: clinics.{slug}"
        c = c or {}
        deadlines = dict(DEFAULT_ACK_DEADLINES)
        for sev, value in (c.get("deadlines") or {}).items():
            if sev not in deadlines:
                raise AlertConfigError(f"{where}.deadlines: unknown severity {sev!r}.")
            deadlines[sev] = parse_duration(value, f"{where}.deadlines.{sev}")
        t, m, w = c.get("telegram") or {}, c.get("email") or {}, c.get("webhook") or {}
        if t and not token:
            raise AlertConfigError(f"{where}.telegram needs a top-level telegram.token_env.")
        if m and smtp is None:
            raise AlertConfigError(f"{where}.email needs a top-level email section (the SMTP server).")
        url = w.get("url")
        if url and not str(url).startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise AlertConfigError(f"{where}.webhook.url must be https:// (plain http only on loopback).")
        clinics[str(slug)] = ClinicAlerts(
            telegram_chat=str(t["chat_id"]) if t.get("chat_id") else None,
            telegram_backup_chat=str(t["backup_chat_id"]) if t.get("backup_chat_id") else None,
            email_to=_list(m.get("to"), f"{where}.email.to"),
            email_backup_to=_list(m.get("backup_to"), f"{where}.email.backup_to"),
            webhook_url=str(url) if url else None,
            webhook_secret=_env(env, w.get("secret_env"), f"{where}.webhook.secret_env", required=bool(url)),
            deadlines=deadlines,
        )
    return AlertConfig(
        clinics=clinics,
        telegram_token=token,
        telegram_api_url=env.get("INTERLUDE_TELEGRAM_API_URL", "").rstrip("/") or "https://api.telegram.org",
        smtp=smtp,
        public_url=public_url.rstrip("/"),
        source=source,
    )


def load_alert_config(
    data_dir: Path, public_url: str, environ: Mapping[str, str] | None = None
) -> AlertConfig:
    env = os.environ if environ is None else environ
    path = Path(env.get("INTERLUDE_ALERTS_FILE", "") or data_dir / "alerts.yml")
    if not path.exists():
        return parse_alert_config({}, str(path), env, public_url=public_url)
    data = read_yaml(path, AlertConfigError)
    return parse_alert_config(data, str(path), env, public_url=public_url)
