"""The composition root: the repositories over one database (`Store`), and the process-wide
singletons of the long-running processes (action server, Rasa extensions, workers)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from bot.checkins.store import CheckinRepo
from bot.config import Settings, load_settings
from bot.escalation.config import AlertConfig, AlertConfigSource
from bot.escalation.deliveries import DeliveryRepo
from bot.flags.handoffs import HandoffRepo
from bot.flags.pending import PendingFlags
from bot.flags.screener_runs import ScreenerRepo
from bot.flags.store import FlagRepo
from bot.patients.requests import RequestRepo
from bot.patients.store import PatientRepo
from bot.portal.patient_views import PatientViews
from bot.portal.queries import PortalQueries
from bot.rights.store import DataRightsRepo
from bot.schedule.store import ScheduleRepo
from bot.staff.admin import StaffAdminRepo
from bot.staff.sessions import PortalSessionRepo
from bot.staff.store import StaffRepo
from bot.store.core import StoreCore
from bot.store.models import utcnow
from bot.store.spool import Spool
from bot.store.vault import Vault


@dataclass(frozen=True)
class Store:
    """Every capability's repository over one database, built in one place.

    A plain container: it defines no store operation. Callers hand each part the repositories
    it needs (`store.flags`, `store.patients`, ...); `core` is the engine, clock and audit.
    """

    core: StoreCore
    vault: Vault
    patients: PatientRepo
    rights: DataRightsRepo
    requests: RequestRepo
    checkins: CheckinRepo
    flags: FlagRepo
    handoffs: HandoffRepo
    screeners: ScreenerRepo
    deliveries: DeliveryRepo
    schedule: ScheduleRepo
    staff: StaffRepo
    staff_admin: StaffAdminRepo
    portal_sessions: PortalSessionRepo
    portal: PortalQueries
    patient_views: PatientViews

    @classmethod
    def open(
        cls,
        database_url: str,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Store:
        """Open a migrated database (see StoreCore.open) and build the repositories over it."""
        return cls.over(StoreCore.open(database_url, data_dir, environ=environ, clock=clock))

    @classmethod
    def over(cls, core: StoreCore) -> Store:
        flags = FlagRepo(core)
        return cls(
            core=core,
            vault=core.vault,
            patients=PatientRepo(core),
            rights=DataRightsRepo(core),
            requests=RequestRepo(core),
            checkins=CheckinRepo(core),
            flags=flags,
            handoffs=HandoffRepo(core),
            screeners=ScreenerRepo(core),
            deliveries=DeliveryRepo(core, flags),
            schedule=ScheduleRepo(core),
            staff=StaffRepo(core),
            staff_admin=StaffAdminRepo(core),
            portal_sessions=PortalSessionRepo(core),
            portal=PortalQueries(core),
            patient_views=PatientViews(core),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def store() -> Store:
    s = settings()
    return Store.open(s.database_url, s.data_dir)


@lru_cache(maxsize=1)
def spool() -> Spool:
    """Where writes wait while the database is unreachable (encrypted, in the data folder)."""
    return Spool(settings().data_dir / "spool", store().vault.keyring)


@lru_cache(maxsize=1)
def pending_flags() -> PendingFlags:
    """Risk decisions waiting to become flags (see bot/flags/pending.py)."""
    return PendingFlags(settings().data_dir / "spool" / "flags", store().vault.keyring)


@lru_cache(maxsize=1)
def alert_source() -> AlertConfigSource:
    s = settings()
    return AlertConfigSource(s.data_dir, s.portal_base_url)


def alert_config() -> AlertConfig:
    """The current alerts.yml (read again after the portal's admin page changes it)."""
    return alert_source().current()


def block_tensorflow() -> None:
    """For processes that never train or run DIET/TED (the action server, the web app, the
    workers): spaCy's thinc imports TensorFlow just to probe for it when it is installed, which
    costs the action server about 550 MB. With this the probe fails fast, as thinc expects."""
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
