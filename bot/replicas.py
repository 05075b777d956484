"""Several Rasa servers (and as many action servers) on one machine: `interlude run --replicas N`.

Replica k (1-based) listens on INTERLUDE_RASA_PORT + k - 1 and its action server on
INTERLUDE_ACTIONS_PORT + k - 1. The replicas share the conversations (the tracker store and
Interlude's data, in PostgreSQL) and a Redis lock store, which keeps each conversation's turns
in order whichever replica a message reaches (bot/rasa_ext/lock_store.py). Each replica gets an
endpoints file written here: endpoints.yml with its own action server and the lock store.
The web app spreads traffic over the replicas (bot/web/app.py, INTERLUDE_RASA_URLS).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

from bot.config import PROJECT_ROOT, ConfigError, Settings
from bot.yamlfile import read_yaml

MAX_REPLICAS = 16
LOCK_STORE_TYPE = "bot.rasa_ext.lock_store.AtomicRedisLockStore"


@dataclass(frozen=True)
class Replica:
    index: int  # 1-based, as in the process names rasa-1, actions-1
    rasa_port: int
    actions_port: int
    endpoints: Path | None = None  # None: endpoints.yml as it is (one replica)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"


def plan_replicas(settings: Settings, n: int) -> list[Replica]:
    """The replicas' ports; refuses what cannot work, in one sentence."""
    if not 1 <= n <= MAX_REPLICAS:
        raise ConfigError(f"--replicas must be between 1 and {MAX_REPLICAS}, not {n}.")
    if n > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigError(
            "--replicas above 1 needs PostgreSQL (set INTERLUDE_DATABASE_URL=postgresql://...): "
            "several Rasa servers cannot share one SQLite file safely."
        )
    replicas = [Replica(k + 1, settings.rasa_port + k, settings.actions_port + k) for k in range(n)]
    ports = [settings.http_port] + [p for r in replicas for p in (r.rasa_port, r.actions_port)]
    if len(set(ports)) != len(ports) or max(ports) > 65535:
        raise ConfigError(
            f"{n} replicas use INTERLUDE_RASA_PORT and INTERLUDE_ACTIONS_PORT and the {n - 1} ports "
            "after each; move them apart so that no two overlap (or INTERLUDE_HTTP_PORT)."
        )
    return replicas


def lock_store_endpoint(settings: Settings) -> dict[str, object]:
    """Rasa's lock_store endpoint for INTERLUDE_REDIS_URL (redis[s]://[user:pass@]host:port/db)."""
    url = urlparse(settings.redis_url)
    db = (url.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"INTERLUDE_REDIS_URL must end with a database number (/1), not {url.path!r}.")
    endpoint: dict[str, object] = {
        "type": LOCK_STORE_TYPE,
        "url": url.hostname or "127.0.0.1",
        "port": url.port or 6379,
        "db": int(db),
        "key_prefix": settings.redis_prefix,
        "use_ssl": url.scheme == "rediss",
    }
    if url.username:
        endpoint["username"] = unquote(url.username)
    if url.password:
        endpoint["password"] = unquote(url.password)
    return endpoint


def check_redis(settings: Settings) -> None:
    """Fail at start-up, naming the setting, if the lock store's Redis does not answer."""
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError(
            f"Redis at INTERLUDE_REDIS_URL does not answer ({type(exc).__name__}); several replicas "
            "need it for the order of each conversation."
        ) from None


def write_endpoints(settings: Settings, replicas: list[Replica], base: Path | None = None) -> list[Replica]:
    """One endpoints file per replica (owner-only: it may hold the Redis password)."""
    source = read_yaml(base or PROJECT_ROOT / "endpoints.yml", ConfigError) or {}
    folder = settings.data_dir / "run"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for replica in replicas:
        endpoints = {
            **source,
            "action_endpoint": {
                **(source.get("action_endpoint") or {}),
                "url": f"http://127.0.0.1:{replica.actions_port}/webhook",
            },
            "lock_store": lock_store_endpoint(settings),
        }
        path = folder / f"endpoints-{replica.index}.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# Written by `interlude run --replicas`; edit endpoints.yml instead.\n")
            yaml.safe_dump(endpoints, fh, sort_keys=False)
        written.append(Replica(replica.index, replica.rasa_port, replica.actions_port, path))
    return written
