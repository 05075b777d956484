"""The check-in scheduler: sends due check-ins through Rasa, nudges once, expires.

Started by `interlude run` as its own process (`python -m bot.workers scheduler` composes it).
The queue is in the database (`scheduled_checkins`), so nothing is lost on restart; Rasa's own reminders live
in memory and are not used. Each tick:

1. gives patients with daily check-ins their next one;
2. closes sent check-ins the patient answered, and expires unanswered ones (for the therapist);
3. claims due check-ins (a lease: a worker that dies before sending leaves them to the next),
   and for each: skips it if the patient paused reminders or has no channel yet, holds it
   while a high or critical risk flag is open or another check-in is waiting for answers,
   waits out quiet hours, and otherwise starts it with Rasa's trigger_intent in the patient's
   channel;
4. sends at most one gentle nudge for a check-in left unanswered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.schedule.plan import Plan, in_quiet_hours, local_due
from bot.schedule.store import ScheduleRepo
from bot.schedule.views import DueJob
from bot.service import run_every

logger = logging.getLogger("interlude.scheduler")

#: How long a held check-in waits before it is looked at again.
HOLD_FOR = timedelta(minutes=30)
RETRY_AFTER = timedelta(minutes=1)


class Rasa(Protocol):
    def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, str], output_channel: str = "latest"
    ) -> dict: ...


@dataclass
class TickResult:
    sent: int = 0
    held: int = 0
    skipped: int = 0
    nudged: int = 0
    failed: int = 0
    completed: int = 0
    expired: int = 0


def after_quiet_hours(now: datetime, tz: ZoneInfo, plan: Plan) -> datetime | None:
    """When quiet hours end, if `now` is inside them for this time zone."""
    local = now.astimezone(tz)
    if not in_quiet_hours(local.time().replace(second=0, microsecond=0), plan):
        return None
    return local_due(local.date(), local.time(), tz, plan)


class Scheduler:
    def __init__(
        self, schedule: ScheduleRepo, plan: Plan, rasa: Rasa, *, lease: timedelta = timedelta(minutes=2)
    ) -> None:
        self.schedule = schedule
        self.plan = plan
        self.rasa = rasa
        self.lease = lease

    def now(self) -> datetime:
        return self.schedule.now()

    async def tick(self) -> TickResult:
        result = TickResult()
        self.schedule.ensure_next_daily(self.plan)
        result.completed, result.expired = self.schedule.close_answered_and_expired(self.plan)
        for job in self.schedule.claim_due_checkins(lease=self.lease):
            await self._deliver(job, result)
        for job in self.schedule.claim_nudges(self.plan, lease=self.lease):
            await self._nudge(job, result)
        return result

    async def _deliver(self, job: DueJob, result: TickResult) -> None:
        channel, why_not = self.schedule.checkin_route(job.patient_ref)
        if channel is None:
            self.schedule.skip_checkin(job, why_not or "no_channel")
            logger.info("check-in %s for %s skipped (%s)", job.id, job.patient_ref, why_not)
            result.skipped += 1
            return
        hold = self.schedule.checkin_hold(job.patient_ref)
        quiet_end = after_quiet_hours(self.now(), ZoneInfo(job.timezone), self.plan)
        if hold or quiet_end:
            until = quiet_end or self.now() + HOLD_FOR
            if hold and (q := after_quiet_hours(until, ZoneInfo(job.timezone), self.plan)):
                until = q
            self.schedule.postpone_checkin(job, until, hold or "quiet_hours")
            result.held += 1
            return
        try:
            await self._trigger(job, "EXTERNAL_checkin_due", channel)
        except Exception as exc:  # Rasa away: the check-in stays pending and is tried again
            self.schedule.retry_checkin(job, self.now() + RETRY_AFTER, f"rasa:{type(exc).__name__}")
            logger.warning("check-in %s could not be sent (%s); retrying", job.id, type(exc).__name__)
            result.failed += 1
            return
        self.schedule.mark_checkin_sent(job, channel)
        logger.info("check-in %s (%s) sent to %s via %s", job.id, job.prompt_set, job.patient_ref, channel)
        result.sent += 1

    async def _trigger(self, job: DueJob, intent: str, channel: str) -> None:
        """Start the check-in (or its nudge) in the patient's conversation, through Rasa."""
        await asyncio.to_thread(
            self.rasa.trigger_intent, job.patient_ref, intent, {"prompt_set": job.prompt_set}, channel
        )

    async def _nudge(self, job: DueJob, result: TickResult) -> None:
        channel, _ = self.schedule.checkin_route(job.patient_ref)
        hold = self.schedule.checkin_hold(job.patient_ref)
        if (
            channel is None
            or hold == "risk_flag_open"
            or after_quiet_hours(self.now(), ZoneInfo(job.timezone), self.plan)
        ):
            self.schedule.release_nudge(job)  # later, or never: it expires on time regardless
            return
        try:
            await self._trigger(job, "EXTERNAL_checkin_nudge", channel)
        except Exception as exc:
            self.schedule.release_nudge(job)
            logger.warning("nudge for check-in %s failed (%s)", job.id, type(exc).__name__)
            return
        self.schedule.mark_nudged(job)
        result.nudged += 1

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        await run_every(self.tick, stop, interval, logger)
