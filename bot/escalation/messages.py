"""What a clinician alert says: the minimum necessary, never the patient's words.

Pseudonymous patient id, clinic, severity, categories, times, and a portal link. The full
picture (triggering text, context, scores) is only in the portal, behind a login.
"""

from __future__ import annotations

from datetime import datetime

from bot.escalation.deliveries import DeliveryJob


def _t(when: datetime) -> str:
    return when.strftime("%H:%M UTC %d %b")


def portal_link(public_url: str, flag_id: int) -> str:
    return f"{public_url}/portal/flags/{flag_id}"


def subject(job: DeliveryJob) -> str:
    overdue = "OVERDUE " if job.level > 0 else ""
    due = _t(job.deadline_at)
    return f"[Interlude] {overdue}{job.severity.upper()} risk flag #{job.flag_id} (acknowledge by {due})"


def body(job: DeliveryJob, public_url: str) -> str:
    lines = []
    if job.level > 0:
        lines.append(f"OVERDUE: not acknowledged in time (escalation level {job.level}).")
    lines += [
        f"{job.severity.upper()} risk: {', '.join(job.categories) or 'unspecified'}",
        f"Patient: {job.patient_ref} ({job.clinic_name})",
        f"Flag #{job.flag_id} raised {_t(job.flag_created_at)}.",
        f"Acknowledge by {_t(job.deadline_at)}.",
        f"Open in the portal: {portal_link(public_url, job.flag_id)}",
    ]
    return "\n".join(lines)


def webhook_payload(job: DeliveryJob, public_url: str) -> dict:
    return {
        "type": "interlude.risk_flag",
        "delivery_id": job.id,
        "flag_id": job.flag_id,
        "level": job.level,
        "patient_id": job.patient_ref,
        "clinic": job.clinic_slug,
        "severity": job.severity,
        "categories": job.categories,
        "raised_at": job.flag_created_at.isoformat(),
        "acknowledge_by": job.deadline_at.isoformat(),
        "portal_url": portal_link(public_url, job.flag_id),
    }
