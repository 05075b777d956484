"""Settings from the environment (and an optional `.env`), validated once at start.

Every process (supervisor, Rasa, action server, web app, CLI) builds its settings through
`load_settings()`, so a bad value is reported the same way everywhere: one sentence that
names the setting, raised as `ConfigError`.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The project root: where domain.yml, config.yml and data/ live.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Clinic content that is not training data: prompt sets, safety lexicon, resources, examples and
#: screener, consent, channel wording, schedule. One value, so Rasa's own commands (which read
#: every YAML under data/) work in the project root; INTERLUDE_CLINIC_DIR moves it.
CLINIC_DIR = Path(os.environ.get("INTERLUDE_CLINIC_DIR") or PROJECT_ROOT / "clinic")

SEVERITIES = ("none", "low", "moderate", "high", "critical")


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one sentence naming it."""


@dataclass(frozen=True)
class Settings:
    """Validated settings shared by every Interlude process."""

    data_dir: Path
    database_url: str
    http_host: str
    http_port: int
    rasa_port: int
    actions_port: int
    api_token: str
    log_level: str
    safety_threshold: str
    default_locale: str
    clinic_urgent_line: str
    on_call_cover: bool
    public_url: str = ""
    #: ISO country of the clinic (INTERLUDE_CLINIC_COUNTRY): crisis numbers for a patient
    #: enrolled without a locale whose time zone names no country.
    clinic_country: str = ""
    #: Patients' Telegram bot; empty means Telegram is off.
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: str = "polling"  # polling | webhook
    telegram_webhook_secret: str = ""
    telegram_bot_username: str = ""
    enrollment_code_days: int = 7
    web_token_days: int = 90
    #: Origins (besides Interlude's own) whose pages may embed the web chat widget.
    webchat_origins: tuple[str, ...] = ()
    #: Redis for Rasa's lock store when several Rasa replicas share the conversations
    #: (`interlude run --replicas N`); unused with one replica.
    redis_url: str = "redis://127.0.0.1:6379/1"
    #: Prefix of Interlude's keys in that Redis (letters and digits: Rasa drops anything else).
    redis_prefix: str = "interlude"
    project_root: Path = PROJECT_ROOT

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    @property
    def web_url(self) -> str:
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::") else self.http_host  # noqa: S104
        return f"http://{host}:{self.http_port}"

    @property
    def portal_base_url(self) -> str:
        """Where clinicians reach the web app (links in alerts): INTERLUDE_PUBLIC_URL or local."""
        return (self.public_url or self.web_url).rstrip("/")

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    def child_env(self) -> dict[str, str]:
        """Environment for child processes, so they validate the very same settings."""
        return {
            "INTERLUDE_DATA_DIR": str(self.data_dir),
            "INTERLUDE_DATABASE_URL": self.database_url,
            "INTERLUDE_HTTP_HOST": self.http_host,
            "INTERLUDE_HTTP_PORT": str(self.http_port),
            "INTERLUDE_RASA_PORT": str(self.rasa_port),
            "INTERLUDE_ACTIONS_PORT": str(self.actions_port),
            "INTERLUDE_API_TOKEN": self.api_token,
            "INTERLUDE_LOG_LEVEL": self.log_level,
            "INTERLUDE_SAFETY_THRESHOLD": self.safety_threshold,
            "INTERLUDE_DEFAULT_LOCALE": self.default_locale,
            "INTERLUDE_CLINIC_URGENT_LINE": self.clinic_urgent_line,
            "INTERLUDE_ON_CALL_COVER": "1" if self.on_call_cover else "0",
            "INTERLUDE_PUBLIC_URL": self.public_url,
            "INTERLUDE_TELEGRAM_TOKEN": self.telegram_token,
            "INTERLUDE_TELEGRAM_API_URL": self.telegram_api_url,
            "INTERLUDE_TELEGRAM_MODE": self.telegram_mode,
            "INTERLUDE_TELEGRAM_WEBHOOK_SECRET": self.telegram_webhook_secret,
            "INTERLUDE_TELEGRAM_BOT_USERNAME": self.telegram_bot_username,
            "INTERLUDE_ENROLLMENT_CODE_DAYS": str(self.enrollment_code_days),
            "INTERLUDE_WEB_TOKEN_DAYS": str(self.web_token_days),
            "INTERLUDE_WEBCHAT_ORIGINS": ",".join(self.webchat_origins),
            "INTERLUDE_REDIS_URL": self.redis_url,
            "INTERLUDE_REDIS_PREFIX": self.redis_prefix,
        }

    @property
    def telegram_webhook_path(self) -> str:
        """Where Telegram posts updates in webhook mode (the web app forwards it to Rasa)."""
        return "/telegram/webhook"

    def web_chat_url(self, token: str) -> str:
        """A patient's personal chat link. The token rides in the fragment, which browsers
        never send to a server, so it stays out of access logs and Referer headers."""
        return f"{self.portal_base_url}/chat#token={token}"

    @property
    def allowed_origins(self) -> list[str]:
        """Origins allowed to open a web chat connection: Interlude's own, plus configured ones."""
        own = {self.portal_base_url, self.web_url}
        return sorted(own | set(self.webchat_origins))


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a simple KEY=VALUE `.env` file (comments and blank lines ignored)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        if "=" not in line:
            raise ConfigError(f"{path}:{lineno} is not a KEY=VALUE line.")
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default)).strip()
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a port number between 1 and 65535, not {raw!r}.") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be a port number between 1 and 65535, not {raw!r}.")
    return port


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= 3650:
        raise ConfigError(f"{name} must be a whole number of days between 1 and 3650, not {raw!r}.")
    return int(raw)


def _telegram(env: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    token = env.get("INTERLUDE_TELEGRAM_TOKEN", "").strip()
    if token and (":" not in token or " " in token):
        raise ConfigError("INTERLUDE_TELEGRAM_TOKEN does not look like a bot token (123456:ABC...).")
    mode = env.get("INTERLUDE_TELEGRAM_MODE", "polling").strip().lower() or "polling"
    if mode not in ("polling", "webhook"):
        raise ConfigError(f"INTERLUDE_TELEGRAM_MODE must be polling or webhook, not {mode!r}.")
    secret = env.get("INTERLUDE_TELEGRAM_WEBHOOK_SECRET", "").strip()
    if secret and not all(c.isalnum() or c in "_-" for c in secret):
        raise ConfigError("INTERLUDE_TELEGRAM_WEBHOOK_SECRET may only hold letters, digits, _ and -.")
    if token and mode == "webhook" and not secret:
        secret = _secret_file(data_dir / "secrets" / "telegram-webhook-secret")
    api_url = env.get("INTERLUDE_TELEGRAM_API_URL", "").strip().rstrip("/") or "https://api.telegram.org"
    if not api_url.startswith(("https://", "http://")):
        raise ConfigError(f"INTERLUDE_TELEGRAM_API_URL must be an http(s) URL, not {api_url!r}.")
    username = env.get("INTERLUDE_TELEGRAM_BOT_USERNAME", "").strip().lstrip("@")
    return {
        "telegram_token": token,
        "telegram_api_url": api_url,
        "telegram_mode": mode,
        "telegram_webhook_secret": secret,
        "telegram_bot_username": username,
    }


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = [o.strip().rstrip("/") for o in env.get("INTERLUDE_WEBCHAT_ORIGINS", "").split(",") if o.strip()]
    for origin in raw:
        if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
            raise ConfigError(
                f"INTERLUDE_WEBCHAT_ORIGINS holds {origin!r}; give origins like https://clinic.example."
            )
    return tuple(raw)


def _public_url(env: Mapping[str, str]) -> str:
    raw = env.get("INTERLUDE_PUBLIC_URL", "").strip().rstrip("/")
    if raw and not raw.startswith(("https://", "http://")):
        raise ConfigError(f"INTERLUDE_PUBLIC_URL must start with https:// (or http://), not {raw!r}.")
    return raw


def _redis(env: Mapping[str, str]) -> dict[str, str]:
    url = env.get("INTERLUDE_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/1"
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigError(
            f"INTERLUDE_REDIS_URL must start with redis:// or rediss://, not {url.split(':', 1)[0]!r}."
        )
    prefix = env.get("INTERLUDE_REDIS_PREFIX", "").strip() or "interlude"
    if not prefix.isalnum():
        raise ConfigError(f"INTERLUDE_REDIS_PREFIX may only hold letters and digits, not {prefix!r}.")
    return {"redis_url": url, "redis_prefix": prefix}


def _ensure_data_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        # One probe name per process: the supervisor's children start together, and a shared
        # name let one child delete another's probe mid-check (a worker died of it in tests).
        probe = path / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"INTERLUDE_DATA_DIR ({path}) is not a writable folder: {exc.strerror or exc}."
        ) from None
    return path


def _secret_file(path: Path, nbytes: int = 32) -> str:
    """Read a secret from an owner-only file, creating it on first use."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"{path} is readable by other users (mode {oct(mode)}); run chmod 600 on it.")
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ConfigError(f"{path} is empty; delete it to have a new one created.")
        return value
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def load_settings(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Settings:
    """Build validated settings from `environ` (default: os.environ) over `.env` in `cwd`.

    Real environment variables win over `.env`, as with most twelve-factor tools.
    """
    base = dict(os.environ if environ is None else environ)
    env = {**read_dotenv((cwd or Path.cwd()) / ".env"), **base}

    data_dir = Path(env.get("INTERLUDE_DATA_DIR", "") or (PROJECT_ROOT / "var")).expanduser()
    data_dir = _ensure_data_dir(data_dir.resolve())

    database_url = env.get("INTERLUDE_DATABASE_URL", "").strip() or (f"sqlite:///{data_dir / 'interlude.db'}")
    if not database_url.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg2://")):
        raise ConfigError(
            "INTERLUDE_DATABASE_URL must start with sqlite:/// or postgresql://, "
            f"not {database_url.split(':', 1)[0]!r}."
        )

    log_level = env.get("INTERLUDE_LOG_LEVEL", "INFO").strip().upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"INTERLUDE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}.")

    threshold = env.get("INTERLUDE_SAFETY_THRESHOLD", "moderate").strip().lower()
    if threshold not in SEVERITIES[1:]:
        raise ConfigError(
            f"INTERLUDE_SAFETY_THRESHOLD must be one of low, moderate, high, critical, not {threshold!r}."
        )

    token = env.get("INTERLUDE_API_TOKEN", "").strip()
    if not token:
        token = _secret_file(data_dir / "secrets" / "api-token")
    elif len(token) < 16:
        raise ConfigError("INTERLUDE_API_TOKEN must be at least 16 characters long.")

    ports = {
        "INTERLUDE_HTTP_PORT": _port(env, "INTERLUDE_HTTP_PORT", 8000),
        "INTERLUDE_RASA_PORT": _port(env, "INTERLUDE_RASA_PORT", 5005),
        "INTERLUDE_ACTIONS_PORT": _port(env, "INTERLUDE_ACTIONS_PORT", 5055),
    }
    if len(set(ports.values())) != len(ports):
        raise ConfigError(
            "INTERLUDE_HTTP_PORT, INTERLUDE_RASA_PORT and INTERLUDE_ACTIONS_PORT must all differ."
        )

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        http_host=env.get("INTERLUDE_HTTP_HOST", "127.0.0.1").strip() or "127.0.0.1",
        http_port=ports["INTERLUDE_HTTP_PORT"],
        rasa_port=ports["INTERLUDE_RASA_PORT"],
        actions_port=ports["INTERLUDE_ACTIONS_PORT"],
        api_token=token,
        log_level=log_level,
        safety_threshold=threshold,
        default_locale=env.get("INTERLUDE_DEFAULT_LOCALE", "en-US").strip() or "en-US",
        clinic_country=env.get("INTERLUDE_CLINIC_COUNTRY", "").strip().upper(),
        clinic_urgent_line=env.get("INTERLUDE_CLINIC_URGENT_LINE", "").strip(),
        on_call_cover=_bool(env, "INTERLUDE_ON_CALL_COVER", False),
        public_url=_public_url(env),
        **_telegram(env, data_dir),
        enrollment_code_days=_days(env, "INTERLUDE_ENROLLMENT_CODE_DAYS", 7),
        web_token_days=_days(env, "INTERLUDE_WEB_TOKEN_DAYS", 90),
        webchat_origins=_origins(env),
        **_redis(env),
    )
