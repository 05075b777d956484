"""The escalation worker: delivers queued clinician alerts and re-escalates missed deadlines.

Started by `interlude run` as its own process (`python -m bot.workers escalation` composes it).
Everything it needs is in the database (the outbox), so it survives restarts: a delivery claimed by a
worker that died is claimed again when the claim's lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.escalation.config import AlertConfig
from bot.escalation.deliveries import DeliveryRepo
from bot.escalation.senders import SendError, TelegramSender
from bot.service import run_every
from bot.store.models import utcnow

logger = logging.getLogger("interlude.worker")

TELEGRAM_OFFSET_KEY = "telegram_alert_offset"


@dataclass
class TickResult:
    delivered: int = 0
    failed: int = 0
    escalated: int = 0
    acknowledged: int = 0


class Worker:
    def __init__(
        self,
        deliveries: DeliveryRepo,
        config: AlertConfig,
        senders: dict[str, object],
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(seconds=60),
        backoff_base: float = 5.0,
        backoff_max: float = 600.0,
        reload: Callable[[], AlertConfig] | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.config = config
        #: Re-reads alerts.yml when it changed (contacts and deadlines edited in the portal).
        self.reload = reload
        self.senders = senders
        self.clock = clock
        self.lease = lease
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_max, self.backoff_base * (2 ** max(0, attempts))))

    async def tick(self) -> TickResult:
        result = TickResult()
        if self.reload is not None:
            self.config = self.reload()
        now = self.clock()
        result.escalated = len(
            self.deliveries.escalate_overdue(
                now=now,
                channels_for=lambda slug: self.config.for_clinic(slug).channels(),
                deadlines_for=lambda slug: self.config.for_clinic(slug).deadlines,
            )
        )
        for job in self.deliveries.claim_deliveries(now=now, lease=self.lease):
            sender = self.senders.get(job.channel)
            try:
                if sender is None:
                    raise SendError(f"channel {job.channel} is not configured")
                await sender.send(job, self.config.for_clinic(job.clinic_slug))  # type: ignore[attr-defined]
            except SendError as exc:
                wait = timedelta(seconds=exc.retry_after) if exc.retry_after else self.backoff(job.attempts)
                self.deliveries.fail_delivery(job, error=str(exc), retry_at=self.clock() + wait)
                logger.warning(
                    "alert delivery %s via %s failed (%s); retrying in %ds",
                    job.id,
                    job.channel,
                    exc,
                    wait.total_seconds(),
                )
                result.failed += 1
                continue
            self.deliveries.complete_delivery(job, now=self.clock())
            logger.info(
                "alert delivery %s (flag %s, %s, level %s) sent via %s",
                job.id,
                job.flag_id,
                job.severity,
                job.level,
                job.channel,
            )
            result.delivered += 1
        telegram = self.senders.get("telegram")
        if isinstance(telegram, TelegramSender):
            result.acknowledged = await self.poll_telegram_acks(telegram)
        return result

    async def poll_telegram_acks(self, telegram: TelegramSender) -> int:
        """Handle Acknowledge button presses (callback queries) on the staff alert bot."""
        raw = self.deliveries.core.get_meta(TELEGRAM_OFFSET_KEY)
        offset = int(raw.decode()) if raw else None
        try:
            updates = await telegram.bot.get_updates(
                offset=offset, timeout=0, allowed_updates=["callback_query"]
            )
        except Exception as exc:
            logger.warning("could not poll Telegram for acknowledgements (%s)", type(exc).__name__)
            return 0
        acknowledged = 0
        for update in updates:
            query = update.callback_query
            if query is not None and (query.data or "").startswith("ack:"):
                try:
                    delivery_id = int(query.data.split(":", 1)[1])
                except ValueError:
                    delivery_id = -1
                name = self.deliveries.acknowledge_via_delivery(
                    delivery_id, str(query.from_user.id), origin="telegram"
                )
                try:
                    if name is None:
                        # The id lets an admin bind this person in the portal (Admin > Staff).
                        await query.answer(
                            "You are not registered as staff of this clinic. Your Telegram user id is "
                            f"{query.from_user.id}: ask your clinic admin to add it to your account.",
                            show_alert=True,
                        )
                    else:
                        acknowledged += 1
                        await query.answer("Acknowledged. Thank you.")
                        if query.message is not None:
                            await telegram.bot.edit_message_text(
                                chat_id=query.message.chat.id,
                                message_id=query.message.message_id,
                                text=(query.message.text or "")
                                + f"\n\nAcknowledged by {name} at {self.clock():%H:%M UTC}.",
                            )
                except Exception as exc:
                    logger.warning("could not answer a Telegram callback (%s)", type(exc).__name__)
            # Persist progress per update, so a restart never handles one twice.
            self.deliveries.core.set_meta(TELEGRAM_OFFSET_KEY, str(update.update_id + 1).encode())
        return acknowledged

    async def run(self, stop: asyncio.Event, interval: float = 0.25) -> None:
        await run_every(self.tick, stop, interval, logger)
