"""Envelope encryption for patient free text.

Each patient has a random data key (Fernet: AES-128-CBC + HMAC-SHA256). The data key is
stored wrapped by the master key(s). Deleting a patient's wrapped key makes everything they
wrote unreadable (crypto-shredding); rotating the master key re-wraps keys, not rows.

Master keys come from INTERLUDE_MASTER_KEY (comma-separated Fernet keys, newest first) or from
`<data dir>/secrets/master.key` (one key per line), created on first run with mode 0600.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_CHECK_PLAINTEXT = b"interlude master key check v1"


class KeyError_(Exception):
    """The master key is missing, malformed or does not match the database."""


class Keyring:
    """Wraps and unwraps patient data keys with the master key(s)."""

    def __init__(self, master_keys: list[bytes]) -> None:
        if not master_keys:
            raise KeyError_("No master key was given.")
        try:
            self._master = MultiFernet([Fernet(k) for k in master_keys])
        except (ValueError, TypeError):
            raise KeyError_(
                "The master key is malformed: each key must be 32 url-safe base64-encoded bytes."
            ) from None

    @staticmethod
    def new_data_key() -> bytes:
        return Fernet.generate_key()

    def wrap(self, data_key: bytes) -> bytes:
        return self._master.encrypt(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped)
        except InvalidToken:
            raise KeyError_("A patient data key could not be unwrapped with the master key.") from None

    def rewrap(self, wrapped: bytes) -> bytes:
        """Re-encrypt a wrapped key under the newest master key (for rotation)."""
        return self._master.rotate(wrapped)

    def key_check(self) -> bytes:
        return self._master.encrypt(KEY_CHECK_PLAINTEXT)

    def verify(self, token: bytes) -> bool:
        try:
            return self._master.decrypt(token) == KEY_CHECK_PLAINTEXT
        except InvalidToken:
            return False


def encrypt_text(data_key: bytes, text: str) -> bytes:
    return Fernet(data_key).encrypt(text.encode("utf-8"))


def decrypt_text(data_key: bytes, token: bytes) -> str:
    return Fernet(data_key).decrypt(token).decode("utf-8")


def master_key_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "master.key"


def load_master_keys(
    data_dir: Path, environ: Mapping[str, str] | None = None, *, create: bool
) -> list[bytes]:
    """Return the master keys, creating the key file only when `create` is true.

    `create` must be false whenever the database already holds encrypted data, so that a
    missing key is an error rather than a silent new key over unreadable rows.
    """
    env = os.environ if environ is None else environ
    from_env = env.get("INTERLUDE_MASTER_KEY", "").strip()
    if from_env:
        return [k.strip().encode() for k in from_env.split(",") if k.strip()]
    path = master_key_path(data_dir)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyError_(f"{path} is readable by other users (mode {oct(mode)}); run chmod 600 on it.")
        keys = [line.strip().encode() for line in path.read_text("utf-8").splitlines() if line.strip()]
        if not keys:
            raise KeyError_(f"{path} holds no key.")
        return keys
    if not create:
        raise KeyError_(
            f"The master key file {path} is missing but the database already holds encrypted "
            "data; restore the key file or set INTERLUDE_MASTER_KEY."
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return [key]


def write_key_file(data_dir: Path, keys: list[bytes]) -> None:
    """Atomically replace the key file (newest key first), owner-only."""
    path = master_key_path(data_dir)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(k + b"\n" for k in keys))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
