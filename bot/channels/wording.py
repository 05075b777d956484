"""What the patient channels say outside the conversation (clinic/channels.yml), validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bot.config import CLINIC_DIR
from bot.safety.resources import resources_for
from bot.yamlfile import read_yaml

CHANNELS_FILE = CLINIC_DIR / "channels.yml"

REQUIRED = {
    "telegram": (
        "unknown_chat unknown_chat_crisis group_chat enrolled code_unknown code_used code_expired "
        "code_bound_elsewhere help reminders_paused reminders_resumed text_only edited "
        "unknown_command too_fast too_long unavailable"
    ).split(),
    "webchat": (
        "unknown revoked expired wrong_clinic missing too_long too_fast not_text unbound_crisis unavailable"
    ).split(),
    "local": ["unavailable"],
}


class WordingError(Exception):
    pass


@lru_cache(maxsize=2)
def _load(path: Path) -> dict[str, dict[str, str]]:
    data = read_yaml(path, WordingError)
    if not isinstance(data, dict):
        raise WordingError(f"{path} must be a mapping of channel to texts.")
    out: dict[str, dict[str, str]] = {}
    for channel, keys in REQUIRED.items():
        section = data.get(channel)
        if not isinstance(section, dict):
            raise WordingError(f"{path} needs a '{channel}:' section.")
        missing = [k for k in keys if not str(section.get(k) or "").strip()]
        if missing:
            raise WordingError(f"{path}: '{channel}' is missing {', '.join(missing)}.")
        out[channel] = {k: str(v).strip() for k, v in section.items()}
    return out


def text(channel: str, key: str, path: Path = CHANNELS_FILE, **values: object) -> str:
    """One channel text with its {placeholders} filled in."""
    template = _load(path)[channel][key]
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        raise WordingError(f"{path}: {channel}.{key} uses a placeholder that is not available.") from None


def with_resources(channel: str, key: str, locale: str, urgent_line: str = "") -> str:
    """A channel text filled with the crisis resources of `locale` ({emergency}, {resources}):
    what a channel says on its own when risky words reach it outside a patient's conversation."""
    res = resources_for(locale)
    return text(channel, key, emergency=res.emergency, resources=res.as_text(urgent_line))


def check(path: Path = CHANNELS_FILE) -> None:
    """Raise WordingError now if the file is broken (called at start-up)."""
    _load(path)
