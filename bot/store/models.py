"""SQLAlchemy models for Interlude's clinical store.

Conventions: every patient free-text column ends in `_enc` and holds ciphertext made with
that patient's data key (see `bot.store.crypto`). Times are timezone-aware UTC. Metadata
that queries need (times, severities, scores, statuses) stays in the clear.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.types import TypeDecorator

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and returns them aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Meta(Base):
    """Key/value facts about the database itself (for example the master-key check)."""

    __tablename__ = "meta"
    key = Column(String(64), primary_key=True)
    value = Column(LargeBinary, nullable=False)


class Clinic(Base):
    __tablename__ = "clinics"
    id = Column(Integer, primary_key=True)
    slug = Column(String(64), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Staff(Base):
    __tablename__ = "staff"
    id = Column(Integer, primary_key=True)
    clinic_id = Column(Integer, ForeignKey("clinics.id"), nullable=False, index=True)
    email = Column(String(254), nullable=False, unique=True)
    display_name = Column(String(200), nullable=False)
    role = Column(String(20), nullable=False)  # therapist | admin
    password_hash = Column(String(255), nullable=True)
    #: Telegram user id, so an Acknowledge button press can be attributed to this person.
    telegram_user_id = Column(String(32), nullable=True, unique=False, index=True)
    #: The start of their previous portal visit ("check-ins completed since your last visit").
    last_seen_at = Column(UTCDateTime, nullable=True)
    #: The TOTP secret, encrypted with the master key; set up first, then enabled by a valid code.
    totp_secret_enc = Column(LargeBinary, nullable=True)
    totp_enabled_at = Column(UTCDateTime, nullable=True)
    #: The last accepted TOTP time step: a code is good once (no replay within its window).
    totp_last_step = Column(Integer, nullable=True)
    #: A disabled account cannot sign in, and its open portal sessions end at the next request.
    disabled_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class Patient(Base):
    __tablename__ = "patients"
    id = Column(Integer, primary_key=True)
    #: Pseudonymous id used as Rasa's sender id and in alert channels.
    ref = Column(String(40), nullable=False, unique=True)
    clinic_id = Column(Integer, ForeignKey("clinics.id"), nullable=False, index=True)
    therapist_id = Column(Integer, ForeignKey("staff.id"), nullable=False, index=True)
    display_name_enc = Column(LargeBinary, nullable=True)
    timezone = Column(String(64), nullable=False, default="UTC")
    locale = Column(String(16), nullable=False, default="en-US")
    status = Column(String(20), nullable=False, default="active")  # active | paused | deleted
    #: The patient's data key, wrapped by the master key; NULL after crypto-shredding.
    wrapped_key = Column(LargeBinary, nullable=True)
    onboarded_at = Column(UTCDateTime, nullable=True)
    #: Set by the patient (/stop on Telegram, "stop reminders"): no proactive check-ins until cleared.
    reminders_paused_at = Column(UTCDateTime, nullable=True)
    #: The patient's preferred local check-in time ("HH:MM"), and whether they want a daily one.
    checkin_time = Column(String(5), nullable=True)
    daily_checkins = Column(Boolean, nullable=False, default=False, server_default=sa_false())
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    identities = relationship("ChannelIdentity", back_populates="patient")


class ChannelIdentity(Base):
    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_external"),)
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    channel = Column(String(20), nullable=False)  # telegram | web | local
    external_id = Column(String(128), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    patient = relationship("Patient", back_populates="identities")


class Consent(Base):
    __tablename__ = "consents"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    text_version = Column(String(32), nullable=False)
    accepted_at = Column(UTCDateTime, nullable=False, default=utcnow)


class CheckIn(Base):
    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_checkins_idempotency_key"),)
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    prompt_set = Column(String(64), nullable=False)
    status = Column(String(20), nullable=False, default="started")
    #: Set when a spooled check-in is replayed, so a replay can never save it twice.
    idempotency_key = Column(String(64), nullable=True)
    scheduled_for = Column(UTCDateTime, nullable=True)
    started_at = Column(UTCDateTime, nullable=True)
    completed_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class JournalAnswer(Base):
    __tablename__ = "journal_answers"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    checkin_id = Column(Integer, ForeignKey("checkins.id"), nullable=True, index=True)
    prompt_key = Column(String(64), nullable=False)
    text_enc = Column(LargeBinary, nullable=True)
    numeric_value = Column(Float, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class RiskFlag(Base):
    """One open risk episode per patient: repeated risk messages update it, not multiply it."""

    __tablename__ = "risk_flags"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    severity = Column(String(10), nullable=False, index=True)
    categories = Column(Text, nullable=False)  # JSON list, union over the signals
    status = Column(String(16), nullable=False, default="open", index=True)
    message_count = Column(Integer, nullable=False, default=1)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    acknowledged_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    acknowledged_at = Column(UTCDateTime, nullable=True)
    resolved_by = Column(Integer, ForeignKey("staff.id"), nullable=True)
    resolved_at = Column(UTCDateTime, nullable=True)


class RiskSignal(Base):
    """One assessed patient message that raised or joined a flag: what fired, and why."""

    __tablename__ = "risk_signals"
    id = Column(Integer, primary_key=True)
    flag_id = Column(Integer, ForeignKey("risk_flags.id"), nullable=False, index=True)
    #: Rasa's message id of the triggering user message.
    message_id = Column(String(64), nullable=True)
    source = Column(String(32), nullable=False, default="message")  # message | phq9_item9
    text_enc = Column(LargeBinary, nullable=True)
    severity = Column(String(10), nullable=False)
    categories = Column(Text, nullable=False)  # JSON list
    rules = Column(Text, nullable=False)  # JSON list of {id, category, severity, span}
    lowering = Column(Text, nullable=False, default="[]")  # JSON list of {rule, reason, cue}
    #: Rasa's message id of an earlier message this assessment built on (risk across turns).
    context_message_id = Column(String(64), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ScreenerRun(Base):
    """One C-SSRS screener asked in chat, with the flag it belongs to. The answers (or
    "declined") are encrypted with the patient's key; the levels stay clear for the 24 h rule."""

    __tablename__ = "screener_runs"
    id = Column(Integer, primary_key=True)
    flag_id = Column(Integer, ForeignKey("risk_flags.id"), nullable=False, index=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    status = Column(String(16), nullable=False, default="in_progress")  # in_progress | completed | declined
    #: The signal that led to it, and the screener's own triage (none..critical).
    trigger_severity = Column(String(10), nullable=False)
    result_severity = Column(String(10), nullable=False, default="none")
    answers_enc = Column(LargeBinary, nullable=False)
    started_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)


class FlagNote(Base):
    """A clinician's note on a risk flag (encrypted with the patient's key)."""

    __tablename__ = "flag_notes"
    id = Column(Integer, primary_key=True)
    flag_id = Column(Integer, ForeignKey("risk_flags.id"), nullable=False, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False)
    text_enc = Column(LargeBinary, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class AlertDelivery(Base):
    """The escalation outbox: one row per flag and alert channel, written with the flag."""

    __tablename__ = "alert_deliveries"
    id = Column(Integer, primary_key=True)
    flag_id = Column(Integer, ForeignKey("risk_flags.id"), nullable=False, index=True)
    channel = Column(String(20), nullable=False)  # telegram | email | webhook | portal
    #: 0 = primary contacts; 1, 2, ... = re-escalations after a missed deadline
    level = Column(Integer, nullable=False, default=0, server_default="0")
    severity = Column(String(10), nullable=False)
    status = Column(String(16), nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    #: A worker's claim: it alone may send until claimed_until (a crashed worker's claim expires).
    claim_token = Column(String(32), nullable=True)
    claimed_until = Column(UTCDateTime, nullable=True)
    escalated_at = Column(UTCDateTime, nullable=True)
    next_attempt_at = Column(UTCDateTime, nullable=True, index=True)
    delivered_at = Column(UTCDateTime, nullable=True)
    last_error = Column(String(255), nullable=True)  # an error class and status only: never patient text
    deadline_at = Column(UTCDateTime, nullable=False)
    acknowledged_by = Column(
        Integer, ForeignKey("staff.id", name="fk_alert_deliveries_acknowledged_by"), nullable=True
    )
    acknowledged_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class AuditEvent(Base):
    """Append-only: the store API never updates or deletes these rows."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor = Column(String(120), nullable=False)
    action = Column(String(64), nullable=False)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=True, index=True)
    origin = Column(String(64), nullable=False)
    detail = Column(Text, nullable=True)


class EnrollmentCode(Base):
    """A one-time code that binds a channel (Telegram chat, web link) to a patient."""

    __tablename__ = "enrollment_codes"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    code_hash = Column(String(64), nullable=False, unique=True)  # sha256 hex; the code is never stored
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    used_at = Column(UTCDateTime, nullable=True)
    used_by_channel = Column(String(20), nullable=True)


class WebChatToken(Base):
    """The secret in a patient's personal web chat link. Only its hash is stored; revocable."""

    __tablename__ = "web_chat_tokens"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)  # sha256 hex
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    revoked_at = Column(UTCDateTime, nullable=True)
    last_used_at = Column(UTCDateTime, nullable=True)


class DosingSession(Base):
    __tablename__ = "dosing_sessions"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    planned_at = Column(UTCDateTime, nullable=False, index=True)
    held_at = Column(UTCDateTime, nullable=True)
    route = Column(String(20), nullable=False)  # iv | im | sublingual | intranasal | other
    status = Column(String(16), nullable=False, default="planned")  # planned | held | cancelled
    notes_enc = Column(LargeBinary, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class InstrumentResult(Base):
    """A scored PHQ-9 or GAD-7: item answers, total and band stay queryable."""

    __tablename__ = "instrument_results"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    checkin_id = Column(Integer, ForeignKey("checkins.id"), nullable=True)
    instrument = Column(String(10), nullable=False)  # phq9 | gad7
    item_answers = Column(Text, nullable=False)  # JSON list of 0..3
    total = Column(Integer, nullable=False)
    band = Column(String(24), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class Handoff(Base):
    """A clinician took over the patient's conversation (and when they handed it back)."""

    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    flag_id = Column(Integer, ForeignKey("risk_flags.id"), nullable=True)
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=False)
    started_at = Column(UTCDateTime, nullable=False, default=utcnow)
    ended_at = Column(UTCDateTime, nullable=True)


class ScheduledCheckin(Base):
    """A proactive check-in: due at a UTC instant, sent once by a worker that claimed it.

    pending -> sent -> (nudged) -> completed | expired; or skipped / cancelled with a reason.
    """

    __tablename__ = "scheduled_checkins"
    __table_args__ = (UniqueConstraint("patient_id", "prompt_set", "due_at", name="uq_scheduled_once"),)
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    dosing_session_id = Column(Integer, ForeignKey("dosing_sessions.id"), nullable=True)
    prompt_set = Column(String(64), nullable=False)
    kind = Column(String(16), nullable=False)  # session | weekly | daily
    due_at = Column(UTCDateTime, nullable=False, index=True)
    status = Column(String(16), nullable=False, default="pending", index=True)
    reason = Column(String(64), nullable=True)  # why skipped, cancelled or postponed
    claim_token = Column(String(32), nullable=True)
    claimed_until = Column(UTCDateTime, nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    channel = Column(String(20), nullable=True)
    sent_at = Column(UTCDateTime, nullable=True)
    nudged_at = Column(UTCDateTime, nullable=True)
    closed_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class RasaEvent(Base):
    """Rasa's conversation events, one encrypted row each (bot.rasa_ext.tracker_store).

    Rasa's SQLTrackerStore columns (a test checks they are all here) plus two of ours:
    `seq`, the event's position in the whole conversation (unique per sender, so two writers
    can never interleave one conversation), and `session_no`, the Rasa session it belongs to
    (each `session_started` event opens the next), so that a message loads only its session.
    `data` holds ciphertext under the patient's data key.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("sender_id", "seq", name="uq_events_sender_seq"),
        Index("ix_events_sender_session", "sender_id", "session_no"),
    )
    id = Column(Integer, primary_key=True)
    sender_id = Column(String(255), nullable=False, index=True)
    type_name = Column(String(255), nullable=False)
    timestamp = Column(Float)
    intent_name = Column(String(255))
    action_name = Column(String(255))
    data = Column(Text)
    seq = Column(Integer, nullable=False)
    session_no = Column(Integer, nullable=False)


class PortalSession(Base):
    """A portal session, server-side. The cookie carries only a random id; this row is keyed by
    its SHA-256, so a copy of the table opens no session. Deleting the row ends the session."""

    __tablename__ = "portal_sessions"
    id_hash = Column(String(64), primary_key=True)  # sha256 hex of the cookie's random id
    #: None before sign-in (the sign-in form's CSRF token, the pending two-step state).
    staff_id = Column(Integer, ForeignKey("staff.id"), nullable=True, index=True)
    #: What the portal keeps between requests (CSRF token, timestamps), JSON; never patient data.
    data = Column(Text, nullable=False, default="{}")
    user_agent = Column(String(200), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    last_seen_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class PatientRequest(Base):
    """Something the patient asked their clinic for in the chat: their data deleted or sent to
    them, or a (non-urgent) word with their therapist. Staff carry it out and mark it done."""

    __tablename__ = "patient_requests"
    id = Column(Integer, primary_key=True)
    patient_id = Column(Integer, ForeignKey("patients.id"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # delete | export | contact
    status = Column(String(16), nullable=False, default="open", index=True)  # open | done
    channel = Column(String(20), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    done_at = Column(UTCDateTime, nullable=True)
    done_by = Column(String(120), nullable=True)
