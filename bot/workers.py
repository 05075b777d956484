"""Entry points of the two background processes: `python -m bot.workers escalation|scheduler`.

They compose the process from `bot.runtime` (settings, the store's repositories, the alert
configuration) and hand the parts to the capability's worker class, so `bot/escalation/` and
`bot/schedule/` never import the composition layer above them. `interlude run` and
`interlude serve worker|scheduler` start them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import timedelta

from bot import runtime

logger = logging.getLogger("bot.workers")


def escalation_main() -> int:
    runtime.block_tensorflow()
    from bot.escalation.senders import build_senders
    from bot.escalation.worker import Worker
    from bot.flags.pending import store_writer
    from bot.service import run_every, serve

    logging.basicConfig(
        level=runtime.settings().log_level, format="%(asctime)s %(levelname)-8s %(name)s - %(message)s"
    )
    config = runtime.alert_config()
    # How long a claim protects a delivery being sent; after a crash, another worker retries then.
    lease = timedelta(seconds=float(os.environ.get("INTERLUDE_ALERT_LEASE_SECONDS", "60")))
    worker = Worker(
        runtime.store().deliveries, config, build_senders(config), lease=lease, reload=runtime.alert_config
    )
    channels = sorted({c for clinic in config.clinics.values() for c in clinic.channels()})
    logger.info("escalation worker started; alert channels: %s", ", ".join(channels) or "none configured")

    # Risk decisions the Rasa server made durable but no safety action turned into a flag
    # (action server or database down): written here, exactly once, then alerted as usual.
    pending = runtime.pending_flags()
    write = store_writer(
        runtime.store().patients, runtime.store().flags, runtime.store().staff, runtime.alert_config
    )

    async def reconcile() -> None:
        if pending.pending():
            n = await asyncio.to_thread(pending.reconcile, write)
            if n:
                logger.warning("wrote %d pending risk flag(s) the safety action could not write", n)

    async def both(stop: asyncio.Event) -> None:
        await asyncio.gather(worker.run(stop), run_every(reconcile, stop, 2.0, logger))

    serve(both)
    return 0


def scheduler_main() -> int:
    runtime.block_tensorflow()
    from bot.flags.handoff import RasaApi
    from bot.schedule.plan import default_plan
    from bot.schedule.worker import Scheduler
    from bot.service import serve

    settings = runtime.settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)-8s %(name)s - %(message)s")
    interval = float(os.environ.get("INTERLUDE_SCHEDULER_INTERVAL", "5"))
    scheduler = Scheduler(
        runtime.store().schedule, default_plan(), RasaApi(settings.rasa_url, settings.api_token)
    )
    logger.info("check-in scheduler started (every %.0fs)", interval)

    serve(lambda stop: scheduler.run(stop, interval))
    return 0


MAINS = {"escalation": escalation_main, "scheduler": scheduler_main}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in MAINS:
        sys.exit(f"usage: python -m bot.workers {'|'.join(MAINS)}")
    sys.exit(MAINS[sys.argv[1]]())
