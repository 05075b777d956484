"""The decision that a message is risky, made durable before anything that can fail.

The Rasa server decides (SafetyPolicy) that a message takes the safety path; writing the flag
happens later, in the action server, against the database, and any of those can be down. So the
policy first writes a pending-flag record here: one encrypted file per message (master key, like
the outage spool), written to a temporary name, fsynced and renamed, keyed by the patient and
Rasa's message id. The safety action removes it once the flag is in the database; the
escalation worker's reconciler writes any record left after GRACE_SECONDS (the action server
died, the database was away) and then removes it. Writing is idempotent per message id
(FlagRepo.record_risk), so a crash between "written" and "removed" never writes twice, and the
worker then alerts as for any other flag.

No Rasa imports: the policy, the action and the worker all use this module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.flags.store import FlagRepo, SignalInput
from bot.patients.store import PatientRepo
from bot.staff.store import StaffRepo
from bot.store.crypto import Keyring

logger = logging.getLogger(__name__)

#: A pending record younger than this is left to the safety action, which normally clears it
#: within a second or two; older ones are written by the reconciler.
GRACE_SECONDS = 20.0
SEVERITIES = ("low", "moderate", "high", "critical")


def signal_from(risk: Mapping[str, Any], source: str = "message") -> SignalInput:
    """The store's signal from a risk assessment dict (as attached by RiskDetector)."""
    severity = risk.get("severity")
    if severity not in SEVERITIES:
        # The policy saw risk here: never let a pending flag turn into "none".
        severity = "high"
    return SignalInput(
        severity=str(severity),
        categories=list(risk.get("categories") or []),
        rules=[
            {k: r.get(k) for k in ("rule", "category", "kind", "severity", "base_severity", "start", "end")}
            for r in risk.get("rules") or []
            if isinstance(r, Mapping)
        ]
        or [{"rule": "policy.triggered"}],
        lowering=list(risk.get("lowering") or []),
        source=source,
    )


class NoPatient(LookupError):
    """The record's sender is not (or no longer) a patient."""


class PendingFlags:
    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self._keyring = keyring
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    @staticmethod
    def key(sender: str, message_id: str) -> str:
        return hashlib.sha256(f"{sender}\0{message_id}".encode()).hexdigest()[:40]

    def _path(self, sender: str, message_id: str) -> Path:
        return self.directory / f"{self.key(sender, message_id)}.flag"

    def remember(self, sender: str, message_id: str, text: str | None, risk: Mapping[str, Any]) -> bool:
        """Durably record that this message must be flagged; False if already recorded."""
        path = self._path(sender, message_id)
        if path.exists():
            return False
        body = json.dumps(
            {
                "sender": sender,
                "message_id": message_id,
                "text": text,
                "risk": dict(risk),
                "at": time.time(),
            }
        ).encode()
        token = self._keyring.wrap(body)  # patient words never land in clear
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(token)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return True

    def forget(self, sender: str, message_id: str) -> None:
        """The flag is in the database: nothing left to reconcile for this message."""
        try:
            self._path(sender, message_id).unlink()
        except FileNotFoundError:
            pass

    def pending(self) -> int:
        return sum(1 for _ in self.directory.glob("*.flag"))

    def reconcile(
        self,
        write: Callable[[str, str, str | None, SignalInput], None],
        *,
        grace: float = GRACE_SECONDS,
        now: float | None = None,
    ) -> int:
        """Write every pending flag older than `grace`, oldest first; returns how many.

        `write(sender, message_id, text, signal)` must be idempotent on the message id. A record
        whose write fails stays for the next round (the database may still be away)."""
        now = time.time() if now is None else now
        done = 0
        for path in sorted(self.directory.glob("*.flag"), key=lambda p: p.stat().st_mtime):
            try:
                record = json.loads(self._keyring.unwrap(path.read_bytes()))
            except Exception as exc:  # unreadable: keep it for a human, never drop it silently
                logger.error(
                    "pending flag %s cannot be read (%s); left in place", path.name, type(exc).__name__
                )
                continue
            if now - float(record.get("at", 0)) < grace:
                continue
            try:
                write(record["sender"], record["message_id"], record.get("text"), signal_from(record["risk"]))
            except NoPatient:
                # Nobody to flag (a chat that was never bound to a patient): the channel already
                # gave crisis numbers. Said loudly, then removed, so it is not retried forever.
                logger.error("pending flag %s names no patient; removed", path.name)
                path.unlink(missing_ok=True)
                continue
            except Exception as exc:
                logger.error("pending flag not written yet (%s); will retry", type(exc).__name__)
                continue
            path.unlink(missing_ok=True)
            done += 1
        return done


def store_writer(
    patients: PatientRepo, flags: FlagRepo, staff: StaffRepo, alert_config: Callable[[], Any]
) -> Callable[[str, str, str | None, SignalInput], None]:
    """The reconciler's write: the same flag and alert outbox rows the safety action writes."""

    def write(sender: str, message_id: str, text: str | None, signal: SignalInput) -> None:
        if sender.startswith("identity:"):
            # A channel kept it before it could look the patient up (database away).
            _, channel, ident = sender.split(":", 2)
            patient = patients.patient_for_identity(channel, ident)
        else:
            patient = patients.find_patient(sender)
        if patient is None:
            raise NoPatient(sender)
        clinic = alert_config().for_clinic(staff.clinic_slug(patient.clinic_id))
        flags.record_risk(
            patient.ref,
            message_id=message_id,
            text=text,
            signal=signal,
            alert_channels=clinic.channels() or ["portal"],
            deadlines=clinic.deadlines,
        )

    return write
