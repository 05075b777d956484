"""Process-wide singletons for the long-running processes (action server, Rasa extensions)."""

from __future__ import annotations

from functools import lru_cache

from bot.config import Settings, load_settings
from bot.store.api import Store


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def store() -> Store:
    s = settings()
    return Store.open(s.database_url, s.data_dir)
