"""Patients' storage: identity, channel bindings, enrollment codes and web chat tokens, consent.

A patient is known by a pseudonymous ref; their display name is encrypted with their own data
key, and enrollment codes and web tokens are stored only as hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from bot.store import crypto
from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.errors import CredentialRefused, StoreError
from bot.store.models import (
    ChannelIdentity,
    Consent,
    EnrollmentCode,
    Patient,
    Staff,
    WebChatToken,
)


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


def ref_view(p: Patient) -> PatientRef:
    """A patient row as the conversation layer sees it (no decrypted identity)."""
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


def secret_hash(secret: str) -> str:
    """How enrollment codes and web tokens are stored: they are random enough that a plain
    sha256 cannot be reversed, and a lookup by hash needs no scan."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_patient_ref() -> str:
    """A pseudonymous patient id: safe to show in alert channels and logs."""
    return "pt_" + secrets.token_hex(5)


class PatientRepo(Repo):
    """Patients, their channel identities, enrollment credentials and consent."""

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
            return ref_view(patient)

    def find_patient(self, ref: str) -> PatientRef | None:
        """Look a patient up by pseudonymous id (no identity decrypted, so not audited)."""
        with transaction(self._factory) as s:
            p = s.execute(select(Patient).where(Patient.ref == ref)).scalar_one_or_none()
            if p is None or p.status == "deleted":
                return None
            return ref_view(p)

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
            return ref_view(p)

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
            return ref_view(patient)

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
            return ref_view(patient)

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
