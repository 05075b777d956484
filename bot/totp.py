"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30 s): the portal's second factor.

Plain standard library, so the algorithm is checked against the RFC's own test vectors
(tests/unit/test_totp.py) rather than trusted to a dependency. Authenticator apps (Aegis,
Google Authenticator, 1Password, ...) read the `otpauth://` URI from a QR code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
#: Codes one step either side of now are accepted: phones' clocks drift.
WINDOW = 1


def new_secret() -> str:
    """A fresh 160-bit secret, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    cleaned = secret.strip().replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def code_at(secret: str | bytes, step: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """The code for one time step (RFC 4226's HOTP with the step as counter)."""
    key = secret if isinstance(secret, bytes) else _key(secret)
    mac = hmac.new(key, struct.pack(">Q", step), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_of(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def matching_step(secret: str, code: str, unix_time: float, *, after: int | None = None) -> int | None:
    """The time step whose code this is (within WINDOW of now), or None.

    Steps at or before `after` (the last one accepted) are refused, so a code seen over a
    shoulder or replayed from a log cannot be used again.
    """
    code = "".join(ch for ch in code if not ch.isspace())
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_of(unix_time)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS})
    return f"otpauth://totp/{label}?{query}&period={STEP_SECONDS}"
