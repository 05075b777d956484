"""Risk storage: the signals the safety layer assessed, the flags they raise, and their outbox.

A flag's alert deliveries are written in the flag's own transaction (the outbox); the
escalation worker sends them (bot/escalation/deliveries.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.core import Repo, StoreCore
from bot.store.db import transaction
from bot.store.errors import MAX_TEXT_CHARS, NotFound, StoreError
from bot.store.models import (
    AlertDelivery,
    Patient,
    RiskFlag,
    RiskSignal,
    Staff,
)

SEVERITY_ORDER = ("none", "low", "moderate", "high", "critical")


#: Acknowledge deadlines per severity (clinical guide, section 7). Moderate means "next
#: working day"; 24 h is the conservative stand-in until clinic working hours are configured.
DEFAULT_ACK_DEADLINES = {
    "critical": timedelta(minutes=5),
    "high": timedelta(minutes=30),
    "moderate": timedelta(hours=24),
    "low": timedelta(days=7),
}


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


def queue_alerts(
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


class FlagRepo(Repo):
    """Risk signals and flags: record, list, acknowledge, resolve."""

    def __init__(self, core: StoreCore, *, ack_deadlines: Mapping[str, timedelta] | None = None) -> None:
        super().__init__(core)
        self._deadlines = dict(ack_deadlines or DEFAULT_ACK_DEADLINES)

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
                # (bot/flags/pending.py) may both try to write the same one.
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
                queue_alerts(s, flag.id, flag.severity, alert_channels, deadline, now)
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

    def flag_status(self, flag_id: int) -> str | None:
        with transaction(self._factory) as s:
            return s.execute(select(RiskFlag.status).where(RiskFlag.id == flag_id)).scalar_one_or_none()
