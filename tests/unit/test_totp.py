"""TOTP against RFC 6238's published test vectors, and the portal's acceptance rules."""

from __future__ import annotations

import pytest

from bot import totp

RFC_KEY = b"12345678901234567890"  # the RFC's SHA-1 seed


@pytest.mark.parametrize(
    "unix_time, expected",
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_sha1_vectors(unix_time: int, expected: str) -> None:
    assert totp.code_at(RFC_KEY, totp.step_of(unix_time), digits=8) == expected


def test_a_code_is_accepted_within_one_step_and_refused_outside() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    step = totp.step_of(now)
    assert totp.matching_step(secret, totp.code_at(secret, step), now) == step
    assert totp.matching_step(secret, totp.code_at(secret, step - 1), now) == step - 1
    assert totp.matching_step(secret, totp.code_at(secret, step + 1), now) == step + 1
    assert totp.matching_step(secret, totp.code_at(secret, step - 3), now) is None
    # Spaces as an app shows them are fine; letters and short codes are not.
    spaced = totp.code_at(secret, step)
    assert totp.matching_step(secret, f"{spaced[:3]} {spaced[3:]}", now) == step
    assert totp.matching_step(secret, "12a456", now) is None
    assert totp.matching_step(secret, "123", now) is None


def test_a_used_code_cannot_be_replayed() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    code = totp.code_at(secret, totp.step_of(now))
    used = totp.matching_step(secret, code, now)
    assert used is not None
    assert totp.matching_step(secret, code, now + 5, after=used) is None


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "ana@clinic.example", "Interlude (Demo Clinic)")
    assert uri.startswith("otpauth://totp/Interlude%20%28Demo%20Clinic%29%3Aana%40clinic.example?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "period=30" in uri and "digits=6" in uri
