"""The shared store core: one database, one clock, one vault, one audit writer.

Every capability's repository (bot/patients, bot/checkins, bot/flags, bot/escalation,
bot/schedule, bot/staff) is built over a `StoreCore` and derives from `Repo`. ORM sessions never
leave a repository; callers get frozen dataclasses. Nothing here knows about any capability.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.store import crypto
from bot.store.audit import read_audit, write_audit
from bot.store.db import make_engine, make_session_factory, transaction
from bot.store.errors import NotFound, SchemaMissing, StoreError
from bot.store.models import Meta, Patient, RasaEvent, utcnow
from bot.store.vault import Vault


def redact_url(url: str) -> str:
    """A database URL safe to print: the password is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StoreCore:
    """The engine's session factory, the clock, the vault and the audit writer."""

    def __init__(
        self, factory: sessionmaker, keyring: crypto.Keyring, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.factory = factory
        self.clock = clock
        self.vault = Vault(factory, keyring, clock)

    @classmethod
    def open(
        cls,
        database_url: str,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> StoreCore:
        """Open a migrated database and check the master key against it.

        A database that has never held a key check gets one (and a new key file if none is
        configured). A database that has one refuses a missing or different key.
        """
        engine = make_engine(database_url)
        try:
            has_schema = inspect(engine).has_table("meta")
        except OperationalError as exc:
            raise StoreError(
                f"Cannot connect to the database ({redact_url(database_url)}): {exc.orig}".strip()
            ) from None
        if not has_schema:
            raise SchemaMissing("The database has no Interlude schema yet; run `interlude db upgrade` first.")
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            check = session.get(Meta, "key_check")
            keys = crypto.load_master_keys(data_dir, environ, create=check is None)
            keyring = crypto.Keyring(keys)
            if check is None:
                session.add(Meta(key="key_check", value=keyring.key_check()))
            elif not keyring.verify(check.value):
                raise crypto.KeyError_(
                    "The master key does not match this database (its key check fails); "
                    "restore the right key file or INTERLUDE_MASTER_KEY."
                )
        return cls(factory, keyring, clock=clock)

    def now(self) -> datetime:
        """The store's clock (tests inject one): workers use it so one clock rules a test."""
        return self.clock()

    @property
    def engine(self) -> Engine:
        """The configured engine, for adapters that share the database (Rasa's tracker store)."""
        return self.factory.kw["bind"]

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # ------------------------------------------------------------------ shared row helpers
    @staticmethod
    def patient(session: Session, ref: str) -> Patient:
        """The live patient row for `ref` (every capability keys its rows on it)."""
        patient = session.execute(select(Patient).where(Patient.ref == ref)).scalar_one_or_none()
        if patient is None or patient.status == "deleted":
            raise NotFound(f"No patient {ref!r}.")
        return patient

    def audit(
        self,
        session: Session,
        actor: str,
        action: str,
        *,
        patient_id: int | None = None,
        origin: str = "system",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        write_audit(session, self.clock(), actor, action, patient_id=patient_id, origin=origin, detail=detail)

    def messages(self, s: Session, ref: str) -> list[tuple[RasaEvent, dict]]:
        """The conversation's user and bot events, oldest first, each with its decrypted JSON."""
        rows = s.execute(
            select(RasaEvent)
            .where(RasaEvent.sender_id == ref, RasaEvent.type_name.in_(("user", "bot")))
            .order_by(RasaEvent.id)
        ).scalars()
        return [
            (e, json.loads(self.vault.decrypt_conversation(ref, e.data.removeprefix("enc1:"))))
            for e in rows
            if e.data
        ]

    # ------------------------------------------------------------------ key-value metadata
    def get_meta(self, key: str) -> bytes | None:
        with transaction(self.factory) as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: bytes) -> None:
        with transaction(self.factory) as s:
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value

    # ------------------------------------------------------------------ audit
    def audit_events(self, *, patient_ref: str | None = None) -> list[dict]:
        with transaction(self.factory) as s:
            patient_id = self.patient(s, patient_ref).id if patient_ref is not None else None
            return read_audit(s, patient_id=patient_id)


class Repo:
    """Base of every capability's repository: the core's helpers under the names the
    repositories' methods use (`self._factory`, `self._audit(...)`, ...)."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def now(self) -> datetime:
        return self.core.clock()

    @property
    def _factory(self) -> sessionmaker:
        return self.core.factory

    @property
    def _clock(self) -> Callable[[], datetime]:
        return self.core.clock

    @property
    def _keyring(self) -> crypto.Keyring:
        return self.core.vault.keyring

    def _audit(
        self,
        session: Session,
        actor: str,
        action: str,
        *,
        patient_id: int | None = None,
        origin: str = "system",
        detail: Mapping[str, object] | None = None,
    ) -> None:
        self.core.audit(session, actor, action, patient_id=patient_id, origin=origin, detail=detail)

    @staticmethod
    def _patient(session: Session, ref: str) -> Patient:
        return StoreCore.patient(session, ref)

    def _data_key(self, patient: Patient) -> bytes:
        return self.core.vault.data_key(patient)

    def _encrypt(self, patient: Patient, text: str | None) -> bytes | None:
        return self.core.vault.encrypt(patient, text)

    def _decrypt(self, patient: Patient, token: bytes | None) -> str | None:
        return self.core.vault.decrypt(patient, token)

    def _messages(self, s: Session, ref: str) -> list[tuple[RasaEvent, dict]]:
        return self.core.messages(s, ref)
