"""Process-wide singletons for the long-running processes (action server, Rasa extensions)."""

from __future__ import annotations

import sys
from functools import lru_cache

from bot.config import Settings, load_settings
from bot.escalation.config import AlertConfig, AlertConfigSource
from bot.pending_flags import PendingFlags
from bot.store.api import Store
from bot.store.spool import Spool


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def store() -> Store:
    s = settings()
    return Store.open(s.database_url, s.data_dir)


@lru_cache(maxsize=1)
def spool() -> Spool:
    """Where writes wait while the database is unreachable (encrypted, in the data folder)."""
    return Spool(settings().data_dir / "spool", store().keyring)


@lru_cache(maxsize=1)
def pending_flags() -> PendingFlags:
    """Risk decisions waiting to become flags (see bot/pending_flags.py)."""
    return PendingFlags(settings().data_dir / "spool" / "flags", store().keyring)


@lru_cache(maxsize=1)
def alert_source() -> AlertConfigSource:
    s = settings()
    return AlertConfigSource(s.data_dir, s.portal_base_url)


def alert_config() -> AlertConfig:
    """The current alerts.yml (read again after the portal's admin page changes it)."""
    return alert_source().current()


def block_tensorflow() -> None:
    """For processes that never train or run DIET/TED (the action server, the web app, the
    workers): spaCy's thinc imports TensorFlow just to probe for it when it is installed, which
    costs the action server about 550 MB. With this the probe fails fast, as thinc expects."""
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
