"""The store's error types, shared by every capability's repository.

Each is a `StoreError`, whose message can be shown to the caller.
"""

from __future__ import annotations

#: Longest free-text answer we accept; longer text is refused, never silently truncated.
MAX_TEXT_CHARS = 20_000


class StoreError(Exception):
    """A store operation was refused; the message can be shown to the caller."""


class TextTooLong(StoreError):
    pass


class NotFound(StoreError):
    pass


class SchemaMissing(StoreError):
    pass


class CredentialRefused(StoreError):
    """An enrollment code or web chat token was refused; `reason` says why, for the channel
    to word its reply: unknown, used, expired, revoked or bound_elsewhere."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_text(text: str | None) -> None:
    """Refuse patient text over MAX_TEXT_CHARS (it is never silently truncated)."""
    if text is not None and len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(f"That text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
