"""The audit writer: every read of patient data and every change names its actor here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import AuditEvent


def write_audit(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    *,
    patient_id: int | None = None,
    origin: str = "system",
    detail: Mapping[str, object] | None = None,
) -> None:
    """Add one audit row in the caller's transaction (it commits or rolls back with the work)."""
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            action=action,
            patient_id=patient_id,
            origin=origin,
            detail=json.dumps(detail, sort_keys=True) if detail else None,
        )
    )


def read_audit(session: Session, *, patient_id: int | None = None) -> list[dict]:
    """Audit rows oldest first, optionally of one patient, as plain dicts."""
    q = select(AuditEvent).order_by(AuditEvent.id)
    if patient_id is not None:
        q = q.where(AuditEvent.patient_id == patient_id)
    return [
        {
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "patient_id": e.patient_id,
            "origin": e.origin,
            "detail": json.loads(e.detail) if e.detail else None,
        }
        for e in session.execute(q).scalars()
    ]
