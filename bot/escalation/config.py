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

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.flags.store import DEFAULT_ACK_DEADLINES
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


def format_duration(value: timedelta) -> str:
    """The shortest of 1d, 24h, 30m, 45s that says `value` exactly (parse_duration's inverse)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def alerts_path(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("INTERLUDE_ALERTS_FILE", "") or data_dir / "alerts.yml")


class AlertConfigSource:
    """alerts.yml, read again when it changes (the portal's admin page edits it), so the
    escalation worker and the action server use new contacts and deadlines without a restart.
    A file that no longer parses keeps the last good configuration in force, and says so."""

    def __init__(self, data_dir: Path, public_url: str, environ: Mapping[str, str] | None = None) -> None:
        self.data_dir, self.public_url, self.environ = data_dir, public_url, environ
        self.path = alerts_path(data_dir, environ)
        self._stamp: tuple[int, int] | None = None
        self._config = load_alert_config(data_dir, public_url, environ)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> AlertConfig:
        stamp = self._stat()
        if stamp != self._stamp:
            try:
                self._config = load_alert_config(self.data_dir, self.public_url, self.environ)
            except AlertConfigError as exc:
                logging.getLogger(__name__).error(
                    "alerts.yml changed but is invalid; keeping the last good one: %s", exc
                )
            self._stamp = stamp
        return self._config


_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$")


def save_clinic_alerts(
    data_dir: Path,
    slug: str,
    values: Mapping[str, str],
    *,
    public_url: str,
    environ: Mapping[str, str] | None = None,
) -> AlertConfig:
    """Replace one clinic's contacts and deadlines in alerts.yml, keeping everything else
    (other clinics, SMTP, secrets' variable names, comments). The whole file is validated
    before it is written, and written atomically: a bad value leaves the file as it was.

    `values` keys: telegram_chat, telegram_backup_chat, email_to, email_backup_to (comma or
    newline separated), webhook_url, webhook_secret_env (the name of the environment variable
    holding the signing secret, never the secret), and deadline_<severity> for each severity.
    """
    import io
    import json
    import tempfile

    from ruamel.yaml import YAML

    env = os.environ if environ is None else environ
    path = alerts_path(data_dir, env)
    yaml = YAML()  # round-trip: keeps comments and order
    yaml.preserve_quotes = True
    doc = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if doc is None:
        doc = yaml.load("clinics: {}\n")
    if not isinstance(doc, dict):
        raise AlertConfigError(f"{path} must be a YAML mapping; fix it by hand first.")
    if doc.get("clinics") is None:
        doc["clinics"] = {}
    clinic = doc["clinics"].get(slug)
    if clinic is None:
        clinic = doc["clinics"][slug] = yaml.load("{}\n")

    def text(key: str) -> str:
        return str(values.get(key) or "").strip()

    def emails(key: str) -> list[str]:
        return [x.strip() for x in re.split(r"[,\n;]", text(key)) if x.strip()]

    where = f"clinics.{slug}"
    for key in ("telegram_chat", "telegram_backup_chat"):
        if text(key) and not _CHAT_ID.match(text(key)):
            raise AlertConfigError(
                f"{where}: a Telegram chat is a number such as -1001234567890, or @channel."
            )
    telegram = {
        k: v
        for k, v in (("chat_id", text("telegram_chat")), ("backup_chat_id", text("telegram_backup_chat")))
        if v
    }
    if telegram.get("backup_chat_id") and not telegram.get("chat_id"):
        raise AlertConfigError(f"{where}: give a main Telegram chat before a backup one.")
    email = {k: v for k, v in (("to", emails("email_to")), ("backup_to", emails("email_backup_to"))) if v}
    if email.get("backup_to") and not email.get("to"):
        raise AlertConfigError(f"{where}: give main alert e-mail addresses before backup ones.")
    for key in ("telegram", "email"):
        new = telegram if key == "telegram" else email
        if new:
            clinic[key] = new
        elif key in clinic:
            del clinic[key]
    url = text("webhook_url")
    if url:
        hook = clinic.get("webhook") or {}
        hook["url"] = url
        if text("webhook_secret_env"):
            hook["secret_env"] = text("webhook_secret_env")
        clinic["webhook"] = hook  # its secret_env (a variable's name) is kept as it was
    elif "webhook" in clinic:
        del clinic["webhook"]
    deadlines = {}
    for severity in DEFAULT_ACK_DEADLINES:
        value = text(f"deadline_{severity}")
        if value:
            deadlines[severity] = value
    if deadlines:
        clinic["deadlines"] = deadlines
    elif "deadlines" in clinic:
        del clinic["deadlines"]

    # Validate the whole result as the workers will read it, before anything is written.
    out = io.StringIO()
    yaml.dump(doc, out)
    plain = json.loads(json.dumps(YAML(typ="safe").load(out.getvalue())))
    try:
        config = parse_alert_config(plain, str(path), env, public_url=public_url)
    except AlertConfigError as exc:  # said to an admin in the portal: the file's path is noise there
        raise AlertConfigError(str(exc).replace(f"{path}: ", "")) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".alerts-", suffix=".yml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return config
