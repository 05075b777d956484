"""The store API: what actions, the web app, workers and the CLI call.

ORM sessions never leave this module; callers get frozen dataclasses. Patient free text is
encrypted with the patient's data key on the way in and decrypted on the way out, and every
read that returns patient data to someone writes an audit event naming that actor.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.store import crypto
from bot.store.admin import AdminStoreMixin
from bot.store.db import make_engine, make_session_factory, transaction
from bot.store.models import (
    AlertDelivery,
    AuditEvent,
    ChannelIdentity,
    CheckIn,
    Clinic,
    Consent,
    DosingSession,
    EnrollmentCode,
    Handoff,
    InstrumentResult,
    JournalAnswer,
    Meta,
    Patient,
    RasaEvent,
    RiskFlag,
    RiskSignal,
    Staff,
    WebChatToken,
    utcnow,
)
from bot.store.portal import PortalStoreMixin
from bot.store.requests import PatientRequestStoreMixin
from bot.store.schedule import ScheduleStoreMixin
from bot.store.screener import ScreenerStoreMixin
from bot.store.sessions import SessionStoreMixin

#: Longest free-text answer we accept; longer text is refused, never silently truncated.
MAX_TEXT_CHARS = 20_000

SEVERITY_ORDER = ("none", "low", "moderate", "high", "critical")

#: Acknowledge deadlines per severity (clinical guide, section 7). Moderate means "next
#: working day"; 24 h is the conservative stand-in until clinic working hours are configured.
DEFAULT_ACK_DEADLINES = {
    "critical": timedelta(minutes=5),
    "high": timedelta(minutes=30),
    "moderate": timedelta(hours=24),
    "low": timedelta(days=7),
}


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


@dataclass(frozen=True)
class PatientRef:
    """A patient as the conversation layer needs it: no decrypted identity."""

    id: int
    ref: str
    clinic_id: int
    therapist_id: int
    timezone: str
    locale: str
    status: str
    onboarded: bool


@dataclass(frozen=True)
class StaffView:
    id: int
    clinic_id: int
    email: str
    display_name: str
    role: str
    #: Whether a second factor (TOTP) is enabled for this account.
    totp: bool = False
    #: Changes when the password does: a portal session signed in before a change then ends.
    credential_stamp: str = ""


@dataclass(frozen=True)
class AnswerView:
    id: int
    checkin_id: int | None
    prompt_set: str | None
    prompt_key: str
    text: str | None
    value: float | None
    created_at: datetime


@dataclass(frozen=True)
class SignalInput:
    """What the safety layer hands the store for one assessed message."""

    severity: str
    categories: Sequence[str]
    rules: Sequence[Mapping[str, object]]
    lowering: Sequence[Mapping[str, object]] = ()
    source: str = "message"
    #: An earlier message this assessment built on (risk across turns), by Rasa message id.
    context_message_id: str | None = None


@dataclass(frozen=True)
class FlagResult:
    flag_id: int
    severity: str
    created: bool
    escalated: bool
    deadline_at: datetime | None


@dataclass(frozen=True)
class DeliveryJob:
    """One alert to send, as a worker claimed it. Carries no patient words."""

    id: int
    flag_id: int
    channel: str
    level: int
    severity: str
    categories: list[str]
    patient_ref: str
    clinic_slug: str
    clinic_name: str
    flag_created_at: datetime
    deadline_at: datetime
    attempts: int
    claim_token: str


@dataclass(frozen=True)
class FlagView:
    id: int
    patient_ref: str
    severity: str
    categories: list[str]
    status: str
    message_count: int
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    signals: list[dict] = field(default_factory=list)


def _severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity)


def _check_text(text: str | None) -> None:
    if text is not None and len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(f"That text is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")


def _queue_alerts(
    s: Session,
    flag_id: int,
    severity: str,
    channels: Sequence[str],
    deadline: datetime,
    now: datetime,
    level: int = 0,
) -> None:
    """Outbox rows, one per channel, in the caller's transaction (the worker sends them)."""
    for channel in channels:
        s.add(
            AlertDelivery(
                flag_id=flag_id,
                channel=channel,
                level=level,
                severity=severity,
                status="pending",
                deadline_at=deadline,
                created_at=now,
            )
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def redact_url(url: str) -> str:
    """A database URL safe to print: the password is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def secret_hash(secret: str) -> str:
    """How enrollment codes and web tokens are stored: they are random enough that a plain
    sha256 cannot be reversed, and a lookup by hash needs no scan."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_patient_ref() -> str:
    """A pseudonymous patient id: safe to show in alert channels and logs."""
    return "pt_" + secrets.token_hex(5)


class Store(
    ScheduleStoreMixin,
    PortalStoreMixin,
    AdminStoreMixin,
    ScreenerStoreMixin,
    SessionStoreMixin,
    PatientRequestStoreMixin,
):
    """Interlude's clinical store over one database."""

    def __init__(
        self,
        factory: sessionmaker,
        keyring: crypto.Keyring,
        *,
        clock: Callable[[], datetime] = utcnow,
        ack_deadlines: Mapping[str, timedelta] | None = None,
    ) -> None:
        self._factory = factory
        self._keyring = keyring
        self._clock = clock
        self._deadlines = dict(ack_deadlines or DEFAULT_ACK_DEADLINES)
        # sender id -> (data key, fetched at); short-lived so crypto-shredding takes effect soon
        self._key_cache: dict[str, tuple[bytes, float]] = {}
        self._key_lock = threading.Lock()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        database_url: str,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Store:
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
        return self._clock()

    @property
    def keyring(self) -> crypto.Keyring:
        """The master keyring, for the spool's at-rest encryption."""
        return self._keyring

    @property
    def engine(self) -> Engine:
        """The configured engine, for adapters that share the database (Rasa's tracker store)."""
        return self._factory.kw["bind"]

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    # ------------------------------------------------------------------ helpers
    def _data_key(self, patient: Patient) -> bytes:
        if patient.wrapped_key is None:
            raise StoreError(f"Patient {patient.ref} has been deleted; their data is unreadable.")
        return self._keyring.unwrap(patient.wrapped_key)

    def _encrypt(self, patient: Patient, text: str | None) -> bytes | None:
        if text is None:
            return None
        return crypto.encrypt_text(self._data_key(patient), text)

    def _decrypt(self, patient: Patient, token: bytes | None) -> str | None:
        if token is None:
            return None
        return crypto.decrypt_text(self._data_key(patient), token)

    @staticmethod
    def _patient(session: Session, ref: str) -> Patient:
        patient = session.execute(select(Patient).where(Patient.ref == ref)).scalar_one_or_none()
        if patient is None or patient.status == "deleted":
            raise NotFound(f"No patient {ref!r}.")
        return patient

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
        session.add(
            AuditEvent(
                at=self._clock(),
                actor=actor,
                action=action,
                patient_id=patient_id,
                origin=origin,
                detail=json.dumps(detail, sort_keys=True) if detail else None,
            )
        )

    @staticmethod
    def _ref_view(p: Patient) -> PatientRef:
        return PatientRef(
            id=p.id,
            ref=p.ref,
            clinic_id=p.clinic_id,
            therapist_id=p.therapist_id,
            timezone=p.timezone,
            locale=p.locale,
            status=p.status,
            onboarded=p.onboarded_at is not None,
        )

    # ------------------------------------------------------------------ conversation encryption
    KEY_CACHE_SECONDS = 60.0
    TRACKER_FALLBACK_KEY = "tracker_fallback_key"

    def _conversation_key(self, sender_id: str) -> bytes:
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
                key = self._data_key(patient)
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

    def _messages(self, s: Session, ref: str) -> list[tuple[RasaEvent, dict]]:
        """The conversation's user and bot events, oldest first, each with its decrypted JSON."""
        rows = s.execute(
            select(RasaEvent)
            .where(RasaEvent.sender_id == ref, RasaEvent.type_name.in_(("user", "bot")))
            .order_by(RasaEvent.id)
        ).scalars()
        return [
            (e, json.loads(self.decrypt_conversation(ref, e.data.removeprefix("enc1:"))))
            for e in rows
            if e.data
        ]

    def encrypt_conversation(self, sender_id: str, plaintext: str) -> str:
        """Ciphertext (ASCII) of one conversation event, under the sender's key."""
        return crypto.encrypt_text(self._conversation_key(sender_id), plaintext).decode("ascii")

    def decrypt_conversation(self, sender_id: str, token: str) -> str:
        return crypto.decrypt_text(self._conversation_key(sender_id), token.encode("ascii"))

    # ------------------------------------------------------------------ clinics and staff
    def ensure_clinic(self, slug: str, name: str) -> int:
        with transaction(self._factory) as s:
            clinic = s.execute(select(Clinic).where(Clinic.slug == slug)).scalar_one_or_none()
            if clinic is None:
                clinic = Clinic(slug=slug, name=name, created_at=self._clock())
                s.add(clinic)
                s.flush()
            return clinic.id

    def ensure_staff(
        self, clinic_id: int, email: str, display_name: str, role: str, password_hash: str | None
    ) -> tuple[int, bool]:
        """Return (staff id, created?) for `email`, creating the account if missing."""
        if role not in ("therapist", "admin"):
            raise StoreError(f"Unknown staff role {role!r}; use therapist or admin.")
        email = email.strip().lower()
        with transaction(self._factory) as s:
            staff = s.execute(select(Staff).where(Staff.email == email)).scalar_one_or_none()
            if staff is not None:
                return staff.id, False
            staff = Staff(
                clinic_id=clinic_id,
                email=email,
                display_name=display_name,
                role=role,
                password_hash=password_hash,
                created_at=self._clock(),
            )
            s.add(staff)
            s.flush()
            self._audit(s, "system", "staff.create", detail={"staff_id": staff.id, "role": role})
            return staff.id, True

    def staff_by_email(self, email: str) -> StaffView | None:
        with transaction(self._factory) as s:
            st = s.execute(select(Staff).where(Staff.email == email.strip().lower())).scalar_one_or_none()
            if st is None:
                return None
            return StaffView(st.id, st.clinic_id, st.email, st.display_name, st.role)

    def staff_id_by_email(self, email: str) -> int | None:
        with transaction(self._factory) as s:
            return s.execute(
                select(Staff.id).where(Staff.email == email.strip().lower())
            ).scalar_one_or_none()

    # ------------------------------------------------------------------ patients
    def create_patient(
        self,
        *,
        clinic_id: int,
        therapist_id: int,
        display_name: str,
        timezone: str = "UTC",
        locale: str = "en-US",
        ref: str | None = None,
        actor: str = "system",
    ) -> PatientRef:
        with transaction(self._factory) as s:
            therapist = s.get(Staff, therapist_id)
            if therapist is None or therapist.clinic_id != clinic_id:
                raise StoreError("The therapist does not belong to that clinic.")
            data_key = self._keyring.new_data_key()
            patient = Patient(
                ref=ref or new_patient_ref(),
                clinic_id=clinic_id,
                therapist_id=therapist_id,
                timezone=timezone,
                locale=locale,
                status="active",
                wrapped_key=self._keyring.wrap(data_key),
                created_at=self._clock(),
            )
            patient.display_name_enc = crypto.encrypt_text(data_key, display_name)
            s.add(patient)
            s.flush()
            self._audit(s, actor, "patient.create", patient_id=patient.id)
            return self._ref_view(patient)

    def find_patient(self, ref: str) -> PatientRef | None:
        """Look a patient up by pseudonymous id (no identity decrypted, so not audited)."""
        with transaction(self._factory) as s:
            p = s.execute(select(Patient).where(Patient.ref == ref)).scalar_one_or_none()
            if p is None or p.status == "deleted":
                return None
            return self._ref_view(p)

    def patient_display_name(self, ref: str, *, actor: str, origin: str) -> str | None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            self._audit(s, actor, "read.patient_identity", patient_id=p.id, origin=origin)
            return self._decrypt(p, p.display_name_enc)

    def bind_identity(self, ref: str, channel: str, external_id: str) -> None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            exists = s.execute(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
                )
            ).scalar_one_or_none()
            if exists is not None:
                if exists.patient_id != p.id:
                    raise StoreError(f"That {channel} identity is bound to another patient.")
                return
            s.add(ChannelIdentity(patient_id=p.id, channel=channel, external_id=external_id))

    def patient_for_identity(self, channel: str, external_id: str) -> PatientRef | None:
        """The patient bound to a channel identity (a Telegram chat), if any."""
        with transaction(self._factory) as s:
            p = s.execute(
                select(Patient)
                .join(ChannelIdentity, ChannelIdentity.patient_id == Patient.id)
                .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
            ).scalar_one_or_none()
            if p is None or p.status == "deleted":
                return None
            return self._ref_view(p)

    def channel_identities(self, ref: str) -> list[tuple[str, str]]:
        """(channel, external id) pairs bound to a patient: where proactive messages can go."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(ChannelIdentity.channel, ChannelIdentity.external_id)
                .where(ChannelIdentity.patient_id == p.id)
                .order_by(ChannelIdentity.id)
            ).all()
            return [(c, e) for c, e in rows]

    # ------------------------------------------------------------------ enrollment credentials
    def issue_enrollment_code(self, ref: str, *, ttl: timedelta, actor: str, origin: str) -> str:
        """A new one-time code for binding a channel (Telegram's /start) to the patient.

        Only its hash is stored. URL-safe and at most 64 characters, as Telegram deep links need.
        """
        code = secrets.token_urlsafe(12)
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            s.add(
                EnrollmentCode(
                    patient_id=p.id, code_hash=secret_hash(code), created_at=now, expires_at=now + ttl
                )
            )
            self._audit(s, actor, "enrollment.code_issue", patient_id=p.id, origin=origin)
        return code

    def redeem_enrollment_code(self, code: str, channel: str, external_id: str) -> PatientRef:
        """Bind `external_id` on `channel` to the code's patient and use the code up, atomically.

        Raises CredentialRefused (unknown, used, expired, bound_elsewhere); nothing changes then.
        """
        now = self._clock()
        with transaction(self._factory) as s:
            row = s.execute(
                select(EnrollmentCode).where(EnrollmentCode.code_hash == secret_hash(code.strip()))
            ).scalar_one_or_none()
            patient = s.get(Patient, row.patient_id) if row is not None else None
            if row is None or patient is None or patient.status == "deleted":
                raise CredentialRefused("unknown", "That enrollment code is not known.")
            if row.used_at is not None:
                raise CredentialRefused("used", "That enrollment code has already been used.")
            if row.expires_at <= now:
                raise CredentialRefused("expired", "That enrollment code has expired.")
            bound = s.execute(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
                )
            ).scalar_one_or_none()
            if bound is not None and bound.patient_id != patient.id:
                raise CredentialRefused("bound_elsewhere", f"This {channel} chat belongs to another patient.")
            # Compare-and-set: of two concurrent redemptions, exactly one wins.
            won = s.execute(
                EnrollmentCode.__table__.update()
                .where(EnrollmentCode.id == row.id, EnrollmentCode.used_at.is_(None))
                .values(used_at=now, used_by_channel=channel)
            ).rowcount
            if won != 1:
                raise CredentialRefused("used", "That enrollment code has already been used.")
            if bound is None:
                s.add(ChannelIdentity(patient_id=patient.id, channel=channel, external_id=external_id))
            self._audit(
                s,
                f"patient:{patient.ref}",
                "enrollment.redeem",
                patient_id=patient.id,
                origin=channel,
            )
            return self._ref_view(patient)

    def issue_web_token(self, ref: str, *, ttl: timedelta, actor: str, origin: str) -> str:
        """A new secret for the patient's personal web chat link; earlier links stop working."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            s.execute(
                WebChatToken.__table__.update()
                .where(WebChatToken.patient_id == p.id, WebChatToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            s.add(
                WebChatToken(
                    patient_id=p.id, token_hash=secret_hash(token), created_at=now, expires_at=now + ttl
                )
            )
            self._audit(s, actor, "webchat.token_issue", patient_id=p.id, origin=origin)
        return token

    def patient_for_web_token(self, token: str) -> PatientRef:
        """The patient a web chat token belongs to; CredentialRefused (unknown, revoked, expired)."""
        now = self._clock()
        with transaction(self._factory) as s:
            row = s.execute(
                select(WebChatToken).where(WebChatToken.token_hash == secret_hash(token))
            ).scalar_one_or_none()
            patient = s.get(Patient, row.patient_id) if row is not None else None
            if row is None or patient is None or patient.status == "deleted":
                raise CredentialRefused("unknown", "This chat link is not valid.")
            if row.revoked_at is not None:
                raise CredentialRefused("revoked", "This chat link has been replaced or withdrawn.")
            if row.expires_at <= now:
                raise CredentialRefused("expired", "This chat link has expired.")
            row.last_used_at = now
            return self._ref_view(patient)

    def web_token_refusals(self, tokens: Iterable[str]) -> dict[str, str]:
        """Of these web chat tokens, those that no longer open a chat, with the reason
        (unknown, revoked, expired). One read, no write: the web chat asks this before every
        reply and every few seconds for its open sockets."""
        hashes = {secret_hash(t): t for t in set(tokens) if t}
        if not hashes:
            return {}
        now = self._clock()
        with transaction(self._factory) as s:
            rows = s.execute(
                select(
                    WebChatToken.token_hash, WebChatToken.revoked_at, WebChatToken.expires_at, Patient.status
                )
                .join(Patient, Patient.id == WebChatToken.patient_id)
                .where(WebChatToken.token_hash.in_(list(hashes)))
            ).all()
        state: dict[str, str | None] = {}
        for token_hash, revoked_at, expires_at, status in rows:
            if status == "deleted":
                state[token_hash] = "unknown"
            elif revoked_at is not None:
                state[token_hash] = "revoked"
            elif expires_at <= now:
                state[token_hash] = "expired"
            else:
                state[token_hash] = None
        return {t: reason for h, t in hashes.items() if (reason := state.get(h, "unknown"))}

    def revoke_web_tokens(self, ref: str, *, actor: str, origin: str) -> int:
        """Withdraw every personal web chat link of a patient; returns how many were live."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            n = s.execute(
                WebChatToken.__table__.update()
                .where(WebChatToken.patient_id == p.id, WebChatToken.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            ).rowcount
            self._audit(s, actor, "webchat.token_revoke", patient_id=p.id, origin=origin, detail={"n": n})
            return n

    def set_reminders_paused(self, ref: str, paused: bool, *, origin: str) -> None:
        """The patient pauses (or resumes) proactive check-ins. Audited as the patient's choice."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            p.reminders_paused_at = self._clock() if paused else None
            self._audit(
                s,
                f"patient:{ref}",
                "reminders.pause" if paused else "reminders.resume",
                patient_id=p.id,
                origin=origin,
            )

    def reminders_paused(self, ref: str) -> bool:
        with transaction(self._factory) as s:
            return self._patient(s, ref).reminders_paused_at is not None

    def mark_onboarded(self, ref: str) -> None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if p.onboarded_at is None:
                p.onboarded_at = self._clock()

    def has_consented(self, ref: str) -> bool:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            return (
                s.execute(select(Consent.id).where(Consent.patient_id == p.id).limit(1)).first() is not None
            )

    def record_consent(self, ref: str, text_version: str) -> None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            s.add(Consent(patient_id=p.id, text_version=text_version, accepted_at=self._clock()))
            self._audit(
                s, f"patient:{ref}", "consent.accept", patient_id=p.id, detail={"text_version": text_version}
            )

    # ------------------------------------------------------------------ journaling
    def record_checkin(
        self,
        ref: str,
        prompt_set: str,
        answers: Iterable[tuple[str, str | None, float | None]],
        *,
        started_at: datetime | None = None,
        idempotency_key: str | None = None,
        instrument: tuple[str, list[int], int, str] | None = None,
        status: str = "completed",
    ) -> int:
        """Store a completed check-in and its answers in one transaction; return its id.

        `answers` holds (prompt key, free text or None, numeric value or None). With an
        idempotency key, a second call with the same key returns the first check-in's id.
        `status` is completed, or stopped (the patient ended it early: what they answered is kept).
        """
        if status not in ("completed", "stopped"):
            raise StoreError(f"Unknown check-in status {status!r}.")
        answers = list(answers)
        for _key, text, _value in answers:
            _check_text(text)
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if idempotency_key is not None:
                existing = s.execute(
                    select(CheckIn.id).where(CheckIn.idempotency_key == idempotency_key)
                ).scalar_one_or_none()
                if existing is not None:
                    return existing
            checkin = CheckIn(
                patient_id=p.id,
                prompt_set=prompt_set,
                idempotency_key=idempotency_key,
                status=status,
                started_at=started_at or now,
                completed_at=now,
                created_at=now,
            )
            s.add(checkin)
            s.flush()
            for key, text, value in answers:
                s.add(
                    JournalAnswer(
                        patient_id=p.id,
                        checkin_id=checkin.id,
                        prompt_key=key,
                        text_enc=self._encrypt(p, text),
                        numeric_value=value,
                        created_at=now,
                    )
                )
            if instrument is not None:
                name, items, total, band = instrument
                s.add(
                    InstrumentResult(
                        patient_id=p.id,
                        checkin_id=checkin.id,
                        instrument=name,
                        item_answers=json.dumps(list(items)),
                        total=total,
                        band=band,
                        created_at=now,
                    )
                )
            return checkin.id

    def instrument_results(self, ref: str, *, actor: str, origin: str) -> list[dict]:
        """Scored questionnaires, oldest first (audited read)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(InstrumentResult)
                .where(InstrumentResult.patient_id == p.id)
                .order_by(InstrumentResult.id)
            ).scalars()
            out = [
                {
                    "instrument": r.instrument,
                    "items": json.loads(r.item_answers),
                    "total": r.total,
                    "band": r.band,
                    "at": r.created_at,
                }
                for r in rows
            ]
            self._audit(s, actor, "read.instruments", patient_id=p.id, origin=origin)
            return out

    def list_answers(
        self, ref: str, *, actor: str, origin: str, last_checkins: int | None = None
    ) -> list[AnswerView]:
        """A patient's journal answers, oldest first (audited read): all of them, or only those
        of the `last_checkins` most recent check-ins (answers without a check-in count as one),
        so that showing five check-ins decrypts five check-ins, not the patient's whole history."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            query = (
                select(JournalAnswer, CheckIn.prompt_set)
                .outerjoin(CheckIn, CheckIn.id == JournalAnswer.checkin_id)
                .where(JournalAnswer.patient_id == p.id)
                .order_by(JournalAnswer.created_at, JournalAnswer.id)
            )
            if last_checkins is not None:
                groups = (
                    s.execute(
                        select(JournalAnswer.checkin_id)
                        .where(JournalAnswer.patient_id == p.id)
                        .group_by(JournalAnswer.checkin_id)
                        .order_by(
                            func.min(JournalAnswer.created_at).desc(), func.min(JournalAnswer.id).desc()
                        )
                        .limit(max(0, last_checkins))
                    )
                    .scalars()
                    .all()
                )
                ids = [g for g in groups if g is not None]
                query = query.where(
                    or_(JournalAnswer.checkin_id.in_(ids), JournalAnswer.checkin_id.is_(None))
                    if None in groups
                    else JournalAnswer.checkin_id.in_(ids)
                )
            rows = s.execute(query).all()
            self._audit(s, actor, "read.journal", patient_id=p.id, origin=origin, detail={"count": len(rows)})
            return [
                AnswerView(
                    id=a.id,
                    checkin_id=a.checkin_id,
                    prompt_set=prompt_set,
                    prompt_key=a.prompt_key,
                    text=self._decrypt(p, a.text_enc),
                    value=a.numeric_value,
                    created_at=a.created_at,
                )
                for a, prompt_set in rows
            ]

    # ------------------------------------------------------------------ safety
    def record_risk(
        self,
        ref: str,
        *,
        message_id: str | None,
        text: str | None,
        signal: SignalInput,
        alert_channels: Sequence[str] = ("portal",),
        deadlines: Mapping[str, timedelta] | None = None,
    ) -> FlagResult:
        """Write a risk signal, its flag and the alert outbox rows in one transaction.

        While a patient has an open flag, further signals join it (raising its severity if
        needed) instead of opening new flags, so a flood of messages is one episode. A raise
        in severity queues new alert deliveries with the tighter deadline.
        """
        if signal.severity not in SEVERITY_ORDER[1:]:
            raise StoreError(f"Cannot flag severity {signal.severity!r}.")
        if text is not None and len(text) > MAX_TEXT_CHARS:
            # Never refuse a risk message: keep the head and the tail, and say so.
            text = text[: MAX_TEXT_CHARS // 2] + "\n[…]\n" + text[-MAX_TEXT_CHARS // 2 :]
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if message_id is not None:
                # Idempotent per message: the safety action and the reconciler of pending flags
                # (bot/pending_flags.py) may both try to write the same one.
                done = s.execute(
                    select(RiskFlag)
                    .join(RiskSignal, RiskSignal.flag_id == RiskFlag.id)
                    .where(
                        RiskFlag.patient_id == p.id,
                        RiskSignal.message_id == message_id,
                        RiskSignal.source == signal.source,
                    )
                    .limit(1)
                ).scalar_one_or_none()
                if done is not None:
                    return FlagResult(done.id, done.severity, False, False, None)
            flag = s.execute(
                select(RiskFlag)
                .where(RiskFlag.patient_id == p.id, RiskFlag.status.in_(("open", "acknowledged")))
                .order_by(RiskFlag.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            created = flag is None
            escalated = False
            if flag is None:
                flag = RiskFlag(
                    patient_id=p.id,
                    severity=signal.severity,
                    categories=json.dumps(sorted(set(signal.categories))),
                    status="open",
                    message_count=1,
                    created_at=now,
                    updated_at=now,
                )
                s.add(flag)
                s.flush()
            else:
                flag.message_count += 1
                flag.updated_at = now
                flag.categories = json.dumps(
                    sorted(set(json.loads(flag.categories)) | set(signal.categories))
                )
                if _severity_rank(signal.severity) > _severity_rank(flag.severity):
                    flag.severity = signal.severity
                    escalated = True
                    if flag.status == "acknowledged":
                        # A worse signal after acknowledgement needs a fresh human look.
                        flag.status = "open"
            s.add(
                RiskSignal(
                    flag_id=flag.id,
                    message_id=message_id,
                    source=signal.source,
                    text_enc=self._encrypt(p, text),
                    severity=signal.severity,
                    categories=json.dumps(list(signal.categories)),
                    rules=json.dumps(list(signal.rules)),
                    lowering=json.dumps(list(signal.lowering)),
                    context_message_id=signal.context_message_id,
                    created_at=now,
                )
            )
            deadline = None
            if created or escalated:
                deadline = now + (deadlines or self._deadlines).get(flag.severity, timedelta(hours=24))
                _queue_alerts(s, flag.id, flag.severity, alert_channels, deadline, now)
            self._audit(
                s,
                "system:safety",
                "risk.signal",
                patient_id=p.id,
                detail={
                    "flag_id": flag.id,
                    "severity": signal.severity,
                    "created": created,
                    "escalated": escalated,
                },
            )
            return FlagResult(flag.id, flag.severity, created, escalated, deadline)

    def open_flag_severity(self, ref: str) -> str | None:
        """Severity of the patient's open (or acknowledged, unresolved) flag, if any."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            return s.execute(
                select(RiskFlag.severity)
                .where(RiskFlag.patient_id == p.id, RiskFlag.status.in_(("open", "acknowledged")))
                .order_by(RiskFlag.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    def list_flags(
        self, *, actor: str, origin: str, statuses: Sequence[str] = ("open", "acknowledged")
    ) -> list[FlagView]:
        """Unresolved flags, most severe first, with decrypted signals (audited per patient)."""
        with transaction(self._factory) as s:
            flags = s.execute(
                select(RiskFlag, Patient)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .where(RiskFlag.status.in_(tuple(statuses)))
            ).all()
            views: list[FlagView] = []
            for flag, patient in flags:
                deadline = s.execute(
                    select(func.min(AlertDelivery.deadline_at)).where(
                        AlertDelivery.flag_id == flag.id, AlertDelivery.severity == flag.severity
                    )
                ).scalar_one_or_none()
                signals = [
                    {
                        "at": sig.created_at.isoformat(),
                        "severity": sig.severity,
                        "categories": json.loads(sig.categories),
                        "rules": json.loads(sig.rules),
                        "lowering": json.loads(sig.lowering),
                        "text": self._decrypt(patient, sig.text_enc),
                    }
                    for sig in s.execute(
                        select(RiskSignal).where(RiskSignal.flag_id == flag.id).order_by(RiskSignal.id)
                    ).scalars()
                ]
                self._audit(
                    s,
                    actor,
                    "read.risk_flag",
                    patient_id=patient.id,
                    origin=origin,
                    detail={"flag_id": flag.id},
                )
                views.append(
                    FlagView(
                        id=flag.id,
                        patient_ref=patient.ref,
                        severity=flag.severity,
                        categories=json.loads(flag.categories),
                        status=flag.status,
                        message_count=flag.message_count,
                        created_at=flag.created_at,
                        updated_at=flag.updated_at,
                        deadline_at=deadline,
                        signals=signals,
                    )
                )
            views.sort(key=lambda v: (-_severity_rank(v.severity), v.created_at))
            return views

    def acknowledge_flag(self, flag_id: int, staff_id: int, *, origin: str) -> None:
        with transaction(self._factory) as s:
            flag = s.get(RiskFlag, flag_id)
            staff = s.get(Staff, staff_id)
            if flag is None:
                raise NotFound(f"No risk flag {flag_id}.")
            if staff is None:
                raise NotFound(f"No staff account {staff_id}.")
            patient = s.get(Patient, flag.patient_id)
            if patient.clinic_id != staff.clinic_id:
                raise NotFound(f"No risk flag {flag_id}.")
            if flag.status == "resolved":
                raise StoreError(f"Risk flag {flag_id} is already resolved.")
            flag.status = "acknowledged"
            flag.acknowledged_by = staff_id
            flag.acknowledged_at = self._clock()
            s.execute(
                AlertDelivery.__table__.update()
                .where(AlertDelivery.flag_id == flag_id, AlertDelivery.acknowledged_at.is_(None))
                .values(acknowledged_by=staff_id, acknowledged_at=flag.acknowledged_at)
            )
            self._audit(
                s,
                f"staff:{staff_id}",
                "risk_flag.acknowledge",
                patient_id=patient.id,
                origin=origin,
                detail={"flag_id": flag_id},
            )

    # ------------------------------------------------------------------ data rights
    def export_patient(self, ref: str, *, actor: str, origin: str) -> dict:
        """Everything held about one patient, decrypted, as JSON-ready data (audited)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)

            def rows(model, *order):  # type: ignore[no-untyped-def]
                return s.execute(select(model).where(model.patient_id == p.id).order_by(*order)).scalars()

            checkins = {
                c.id: {
                    "id": c.id,
                    "prompt_set": c.prompt_set,
                    "status": c.status,
                    "scheduled_for": _iso(c.scheduled_for),
                    "started_at": _iso(c.started_at),
                    "completed_at": _iso(c.completed_at),
                    "answers": [],
                }
                for c in rows(CheckIn, CheckIn.id)
            }
            loose: list[dict] = []
            for a in rows(JournalAnswer, JournalAnswer.id):
                item = {
                    "prompt_key": a.prompt_key,
                    "text": self._decrypt(p, a.text_enc),
                    "value": a.numeric_value,
                    "at": _iso(a.created_at),
                }
                (checkins[a.checkin_id]["answers"] if a.checkin_id in checkins else loose).append(item)
            flags = []
            for f in rows(RiskFlag, RiskFlag.id):
                signals = s.execute(
                    select(RiskSignal).where(RiskSignal.flag_id == f.id).order_by(RiskSignal.id)
                ).scalars()
                flags.append(
                    {
                        "id": f.id,
                        "severity": f.severity,
                        "categories": json.loads(f.categories),
                        "status": f.status,
                        "created_at": _iso(f.created_at),
                        "acknowledged_at": _iso(f.acknowledged_at),
                        "resolved_at": _iso(f.resolved_at),
                        "signals": [
                            {
                                "at": _iso(sig.created_at),
                                "severity": sig.severity,
                                "source": sig.source,
                                "text": self._decrypt(p, sig.text_enc),
                                "rules": json.loads(sig.rules),
                                "lowering": json.loads(sig.lowering),
                                "built_on_message": sig.context_message_id,
                            }
                            for sig in signals
                        ],
                        # The Columbia screener asked in chat for this flag (answers or "declined").
                        "screeners": [
                            {
                                k: (_iso(v) if isinstance(v, datetime) else v)
                                for k, v in run.items()
                                if k != "items"
                            }
                            for run in self._screener_rows(s, f.id, p)
                        ],
                    }
                )
            transcript = [
                {"at": e.timestamp, "from": e.type_name, "text": event.get("text")}
                for e, event in self._messages(s, ref)
            ]
            export = {
                "format": "interlude-patient-export/1",
                "exported_at": _iso(self._clock()),
                "patient": {
                    "id": p.ref,
                    "display_name": self._decrypt(p, p.display_name_enc),
                    "timezone": p.timezone,
                    "locale": p.locale,
                    "status": p.status,
                    "created_at": _iso(p.created_at),
                    "onboarded_at": _iso(p.onboarded_at),
                },
                "consents": [
                    {"text_version": c.text_version, "accepted_at": _iso(c.accepted_at)}
                    for c in rows(Consent, Consent.id)
                ],
                "dosing_sessions": [
                    {
                        "planned_at": _iso(d.planned_at),
                        "held_at": _iso(d.held_at),
                        "route": d.route,
                        "status": d.status,
                        "notes": self._decrypt(p, d.notes_enc),
                    }
                    for d in rows(DosingSession, DosingSession.planned_at)
                ],
                "checkins": list(checkins.values()),
                "answers_outside_checkins": loose,
                "instrument_results": [
                    {
                        "instrument": r.instrument,
                        "items": json.loads(r.item_answers),
                        "total": r.total,
                        "band": r.band,
                        "at": _iso(r.created_at),
                    }
                    for r in rows(InstrumentResult, InstrumentResult.id)
                ],
                "risk_flags": flags,
                "transcript": transcript,
                "audit": [
                    {"at": _iso(e.at), "actor": e.actor, "action": e.action, "origin": e.origin}
                    for e in s.execute(
                        select(AuditEvent).where(AuditEvent.patient_id == p.id).order_by(AuditEvent.id)
                    ).scalars()
                ],
            }
            self._audit(s, actor, "export.patient", patient_id=p.id, origin=origin)
            return export

    def delete_patient(self, ref: str, *, actor: str, origin: str) -> None:
        """Crypto-shred a patient: their data key, identity and channel bindings are removed,
        and Rasa's transcript rows deleted. Remaining ciphertext can never be read again."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            p.wrapped_key = None
            p.display_name_enc = None
            p.status = "deleted"
            for model in (ChannelIdentity, EnrollmentCode, WebChatToken):
                s.execute(model.__table__.delete().where(model.patient_id == p.id))
            s.execute(RasaEvent.__table__.delete().where(RasaEvent.sender_id == ref))
            self._audit(s, actor, "patient.delete", patient_id=p.id, origin=origin)
        with self._key_lock:
            self._key_cache.pop(ref, None)

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
            self._audit(s, actor, "keys.rotate", detail={"rewrapped": n})
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

    def resolve_flag(self, flag_id: int, staff_id: int, *, origin: str) -> None:
        """Close a flag (acknowledging it too if nobody had). Audited."""
        with transaction(self._factory) as s:
            flag = s.get(RiskFlag, flag_id)
            staff = s.get(Staff, staff_id)
            if flag is None or staff is None:
                raise NotFound(f"No risk flag {flag_id}.")
            patient = s.get(Patient, flag.patient_id)
            if patient.clinic_id != staff.clinic_id:
                raise NotFound(f"No risk flag {flag_id}.")
            now = self._clock()
            if flag.acknowledged_at is None:
                flag.acknowledged_by, flag.acknowledged_at = staff_id, now
            flag.status = "resolved"
            flag.resolved_by, flag.resolved_at = staff_id, now
            self._audit(
                s,
                f"staff:{staff_id}",
                "risk_flag.resolve",
                patient_id=patient.id,
                origin=origin,
                detail={"flag_id": flag_id},
            )

    # ------------------------------------------------------------------ clinician handoff
    def start_handoff(self, ref: str, staff_id: int, *, origin: str) -> int:
        """Record that a clinician takes over; requires an unresolved risk flag. Audited."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            staff = s.get(Staff, staff_id)
            if staff is None or staff.clinic_id != p.clinic_id:
                raise NotFound(f"No patient {ref!r}.")
            flag_id = s.execute(
                select(RiskFlag.id)
                .where(RiskFlag.patient_id == p.id, RiskFlag.status.in_(("open", "acknowledged")))
                .order_by(RiskFlag.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if flag_id is None:
                raise StoreError("A handoff needs an open risk flag for this patient.")
            active = s.execute(
                select(Handoff).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()
            if active is not None:
                raise StoreError("A clinician has already taken over this conversation.")
            handoff = Handoff(patient_id=p.id, flag_id=flag_id, staff_id=staff_id, started_at=self._clock())
            s.add(handoff)
            s.flush()
            self._audit(
                s,
                f"staff:{staff_id}",
                "handoff.start",
                patient_id=p.id,
                origin=origin,
                detail={"flag_id": flag_id},
            )
            return handoff.id

    def active_handoff_staff(self, ref: str) -> int | None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            return s.execute(
                select(Handoff.staff_id).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()

    def note_handoff_message(self, ref: str, staff_id: int, *, origin: str) -> None:
        """Audit that a clinician wrote to the patient (the words are in the encrypted transcript)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            self._audit(s, f"staff:{staff_id}", "handoff.message", patient_id=p.id, origin=origin)

    def end_handoff(self, ref: str, staff_id: int, *, origin: str) -> None:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            handoff = s.execute(
                select(Handoff).where(Handoff.patient_id == p.id, Handoff.ended_at.is_(None))
            ).scalar_one_or_none()
            if handoff is None:
                raise StoreError("No clinician has taken over this conversation.")
            handoff.ended_at = self._clock()
            self._audit(s, f"staff:{staff_id}", "handoff.end", patient_id=p.id, origin=origin)

    def staff_name(self, staff_id: int) -> str:
        with transaction(self._factory) as s:
            staff = s.get(Staff, staff_id)
            if staff is None:
                raise NotFound(f"No staff account {staff_id}.")
            return staff.display_name

    # ------------------------------------------------------------------ alert delivery (the outbox)
    def claim_deliveries(self, *, now: datetime, lease: timedelta, limit: int = 20) -> list[DeliveryJob]:
        """Claim due deliveries for one worker.

        Each claim is a compare-and-set on one row (only an unclaimed or expired claim can be
        taken), so several workers never send the same delivery, on SQLite or PostgreSQL, and
        a worker that dies mid-send loses its claim when the lease runs out.
        """
        token = secrets.token_hex(8)
        table = AlertDelivery.__table__
        claimable = (AlertDelivery.claimed_until.is_(None)) | (AlertDelivery.claimed_until < now)
        with transaction(self._factory) as s:
            candidates = s.execute(
                select(AlertDelivery.id, RiskFlag.status)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .where(
                    AlertDelivery.status == "pending",
                    AlertDelivery.channel != "portal",
                    (AlertDelivery.next_attempt_at.is_(None)) | (AlertDelivery.next_attempt_at <= now),
                    claimable,
                )
                .order_by(AlertDelivery.id)
                .limit(limit)
            ).all()
            claimed: list[int] = []
            for delivery_id, flag_status in candidates:
                if flag_status != "open":
                    # Someone already acknowledged or resolved it: nothing left to tell.
                    s.execute(
                        table.update()
                        .where(table.c.id == delivery_id, table.c.status == "pending")
                        .values(status="skipped")
                    )
                    continue
                result = s.execute(
                    table.update()
                    .where(table.c.id == delivery_id, table.c.status == "pending", claimable)
                    .values(claim_token=token, claimed_until=now + lease)
                )
                if result.rowcount == 1:
                    claimed.append(delivery_id)
        if not claimed:
            return []
        with transaction(self._factory) as s:
            rows = s.execute(
                select(AlertDelivery, RiskFlag, Patient, Clinic)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .join(Clinic, Clinic.id == Patient.clinic_id)
                .where(AlertDelivery.id.in_(claimed), AlertDelivery.claim_token == token)
                .order_by(AlertDelivery.id)
            ).all()
            return [
                DeliveryJob(
                    id=d.id,
                    flag_id=f.id,
                    channel=d.channel,
                    level=d.level,
                    severity=d.severity,
                    categories=json.loads(f.categories),
                    patient_ref=p.ref,
                    clinic_slug=c.slug,
                    clinic_name=c.name,
                    flag_created_at=f.created_at,
                    deadline_at=d.deadline_at,
                    attempts=d.attempts,
                    claim_token=token,
                )
                for d, f, p, c in rows
            ]

    def complete_delivery(self, job: DeliveryJob, *, now: datetime) -> bool:
        """Mark a claimed delivery sent; False if the claim had expired and was taken over."""
        table = AlertDelivery.__table__
        with transaction(self._factory) as s:
            result = s.execute(
                table.update()
                .where(table.c.id == job.id, table.c.claim_token == job.claim_token)
                .values(
                    status="delivered",
                    delivered_at=now,
                    attempts=table.c.attempts + 1,
                    claimed_until=None,
                    last_error=None,
                )
            )
            return result.rowcount == 1

    def fail_delivery(self, job: DeliveryJob, *, error: str, retry_at: datetime) -> None:
        table = AlertDelivery.__table__
        with transaction(self._factory) as s:
            s.execute(
                table.update()
                .where(table.c.id == job.id, table.c.claim_token == job.claim_token)
                .values(
                    attempts=table.c.attempts + 1,
                    last_error=error[:255],
                    next_attempt_at=retry_at,
                    claim_token=None,
                    claimed_until=None,
                )
            )

    def escalate_overdue(
        self,
        *,
        now: datetime,
        channels_for: Callable[[str], Sequence[str]],
        deadlines_for: Callable[[str], Mapping[str, timedelta]],
        max_level: int = 3,
    ) -> list[int]:
        """Open flags whose acknowledge deadline passed get alerts one level up (the backup
        contacts). Returns the ids of the flags re-escalated. Audited."""
        escalated: list[int] = []
        with transaction(self._factory) as s:
            overdue = s.execute(
                select(AlertDelivery, RiskFlag, Patient, Clinic)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .join(Clinic, Clinic.id == Patient.clinic_id)
                .where(
                    RiskFlag.status == "open",
                    AlertDelivery.escalated_at.is_(None),
                    AlertDelivery.deadline_at <= now,
                    AlertDelivery.severity == RiskFlag.severity,
                )
                .order_by(AlertDelivery.id)
            ).all()
            by_flag: dict[int, list] = {}
            for d, f, p, c in overdue:
                by_flag.setdefault(f.id, []).append((d, f, p, c))
            for flag_id, items in by_flag.items():
                level = max(d.level for d, *_ in items) + 1
                for d, *_ in items:
                    d.escalated_at = now
                if level > max_level:
                    continue
                _, f, p, c = items[0]
                deadline = now + deadlines_for(c.slug).get(f.severity, timedelta(hours=24))
                _queue_alerts(
                    s, flag_id, f.severity, channels_for(c.slug) or ["portal"], deadline, now, level
                )
                self._audit(
                    s,
                    "system:escalation",
                    "risk_flag.escalate",
                    patient_id=p.id,
                    detail={"flag_id": flag_id, "level": level},
                )
                escalated.append(flag_id)
        return escalated

    def acknowledge_via_delivery(self, delivery_id: int, telegram_user_id: str, *, origin: str) -> str | None:
        """Acknowledge the flag behind a delivery for the staff member with this Telegram id.

        Returns the staff member's name, or None if the Telegram user is not staff of that
        clinic (nothing is acknowledged then)."""
        with transaction(self._factory) as s:
            row = s.execute(
                select(AlertDelivery.flag_id, Patient.clinic_id)
                .join(RiskFlag, RiskFlag.id == AlertDelivery.flag_id)
                .join(Patient, Patient.id == RiskFlag.patient_id)
                .where(AlertDelivery.id == delivery_id)
            ).one_or_none()
            if row is None:
                return None
            staff = (
                s.execute(
                    select(Staff).where(
                        Staff.telegram_user_id == telegram_user_id,
                        Staff.clinic_id == row[1],
                        Staff.disabled_at.is_(None),
                    )
                )
                .scalars()
                .first()
            )
            if staff is None:
                return None
            staff_id, name, flag_id = staff.id, staff.display_name, row[0]
        flag_status = self.flag_status(flag_id)
        if flag_status in ("open",):
            self.acknowledge_flag(flag_id, staff_id, origin=origin)
        return name

    def flag_status(self, flag_id: int) -> str | None:
        with transaction(self._factory) as s:
            return s.execute(select(RiskFlag.status).where(RiskFlag.id == flag_id)).scalar_one_or_none()

    def set_staff_telegram(self, email: str, telegram_user_id: str | None) -> None:
        with transaction(self._factory) as s:
            staff = s.execute(select(Staff).where(Staff.email == email.strip().lower())).scalar_one_or_none()
            if staff is None:
                raise NotFound(f"No staff account with e-mail {email}.")
            staff.telegram_user_id = telegram_user_id
            self._audit(s, "system", "staff.telegram_binding", detail={"staff_id": staff.id})

    def clinic_slug(self, clinic_id: int) -> str:
        with transaction(self._factory) as s:
            return s.execute(select(Clinic.slug).where(Clinic.id == clinic_id)).scalar_one()

    def get_meta(self, key: str) -> bytes | None:
        with transaction(self._factory) as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: bytes) -> None:
        with transaction(self._factory) as s:
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value

    # ------------------------------------------------------------------ audit
    def audit_events(self, *, patient_ref: str | None = None) -> list[dict]:
        with transaction(self._factory) as s:
            q = select(AuditEvent).order_by(AuditEvent.id)
            if patient_ref is not None:
                q = q.where(AuditEvent.patient_id == self._patient(s, patient_ref).id)
            return [
                {
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "patient_id": e.patient_id,
                    "origin": e.origin,
                    "detail": json.loads(e.detail) if e.detail else None,
                }
                for e in s.execute(q).scalars()
            ]
