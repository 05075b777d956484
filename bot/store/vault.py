"""The encryption vault: per-patient data keys wrapped by the master keyring.

Patient free text is encrypted with the patient's data key on the way in and decrypted on the
way out. Deleting a patient drops their wrapped key (crypto-shredding); rotating the master key
re-wraps the small data keys, never the rows of text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.store import crypto
from bot.store.audit import write_audit
from bot.store.db import transaction
from bot.store.errors import StoreError
from bot.store.models import Meta, Patient, Staff


class Vault:
    """Data keys and the conversation (tracker) keys, over one keyring."""

    KEY_CACHE_SECONDS = 60.0
    TRACKER_FALLBACK_KEY = "tracker_fallback_key"

    def __init__(self, factory: sessionmaker, keyring: crypto.Keyring, clock: Callable[[], datetime]) -> None:
        self._factory = factory
        self._keyring = keyring
        self._clock = clock
        # sender id -> (data key, fetched at); short-lived so crypto-shredding takes effect soon
        self._key_cache: dict[str, tuple[bytes, float]] = {}
        self._key_lock = threading.Lock()

    @property
    def keyring(self) -> crypto.Keyring:
        """The master keyring, for the spool's at-rest encryption."""
        return self._keyring

    # ------------------------------------------------------------------ patient data keys
    def data_key(self, patient: Patient) -> bytes:
        if patient.wrapped_key is None:
            raise StoreError(f"Patient {patient.ref} has been deleted; their data is unreadable.")
        return self._keyring.unwrap(patient.wrapped_key)

    def encrypt(self, patient: Patient, text: str | None) -> bytes | None:
        if text is None:
            return None
        return crypto.encrypt_text(self.data_key(patient), text)

    def decrypt(self, patient: Patient, token: bytes | None) -> str | None:
        if token is None:
            return None
        return crypto.decrypt_text(self.data_key(patient), token)

    def forget(self, sender_id: str) -> None:
        """Drop a cached conversation key (the patient was deleted)."""
        with self._key_lock:
            self._key_cache.pop(sender_id, None)

    # ------------------------------------------------------------------ conversation encryption
    def conversation_key(self, sender_id: str) -> bytes:
        """The data key for a conversation: the patient's, or a wrapped fallback for others.

        Rasa's tracker store calls this for every saved or loaded event, so keys are cached
        for a minute; deleting a patient removes their events as well as their key.
        """
        now = time.monotonic()
        with self._key_lock:
            hit = self._key_cache.get(sender_id)
            if hit is not None and now - hit[1] < self.KEY_CACHE_SECONDS:
                return hit[0]
        with transaction(self._factory) as s:
            patient = s.execute(select(Patient).where(Patient.ref == sender_id)).scalar_one_or_none()
            if patient is not None:
                key = self.data_key(patient)
            else:
                row = s.get(Meta, self.TRACKER_FALLBACK_KEY)
                if row is None:
                    row = Meta(
                        key=self.TRACKER_FALLBACK_KEY, value=self._keyring.wrap(self._keyring.new_data_key())
                    )
                    s.add(row)
                key = self._keyring.unwrap(row.value)
        with self._key_lock:
            self._key_cache[sender_id] = (key, now)
        return key

    def encrypt_conversation(self, sender_id: str, plaintext: str) -> str:
        """Ciphertext (ASCII) of one conversation event, under the sender's key."""
        return crypto.encrypt_text(self.conversation_key(sender_id), plaintext).decode("ascii")

    def decrypt_conversation(self, sender_id: str, token: str) -> str:
        return crypto.decrypt_text(self.conversation_key(sender_id), token.encode("ascii"))

    # ------------------------------------------------------------------ master key rotation
    def rewrap_all(self, keyring: crypto.Keyring, *, actor: str) -> int:
        """Re-wrap every data key (and the key check) under `keyring`'s newest key.

        Rows of patient text are not touched: only the small wrapped keys change. `keyring`
        must still hold the old key(s) so that the current wraps can be opened.
        """
        with transaction(self._factory) as s:
            n = 0
            for patient in s.execute(select(Patient).where(Patient.wrapped_key.is_not(None))).scalars():
                patient.wrapped_key = keyring.rewrap(patient.wrapped_key)
                n += 1
            fallback = s.get(Meta, self.TRACKER_FALLBACK_KEY)
            if fallback is not None:
                fallback.value = keyring.rewrap(fallback.value)
            for staff in s.execute(select(Staff).where(Staff.totp_secret_enc.is_not(None))).scalars():
                staff.totp_secret_enc = keyring.rewrap(staff.totp_secret_enc)
            check = s.get(Meta, "key_check")
            if check is not None:
                check.value = keyring.key_check()
            write_audit(s, self._clock(), actor, "keys.rotate", detail={"rewrapped": n})
        self._keyring = keyring
        with self._key_lock:
            self._key_cache.clear()
        return n

    def all_wraps_open_with(self, keyring: crypto.Keyring) -> bool:
        """Whether `keyring` alone can open every wrapped key (safe to retire older keys)."""
        with transaction(self._factory) as s:
            wraps = list(
                s.execute(select(Patient.wrapped_key).where(Patient.wrapped_key.is_not(None))).scalars()
            )
            fallback = s.get(Meta, self.TRACKER_FALLBACK_KEY)
            check = s.get(Meta, "key_check")
        try:
            for w in wraps + ([fallback.value] if fallback else []):
                keyring.unwrap(w)
        except crypto.KeyError_:
            return False
        return check is None or keyring.verify(check.value)
