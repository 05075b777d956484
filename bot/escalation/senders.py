"""Alert senders: Telegram (python-telegram-bot), e-mail (SMTP) and a signed webhook.

Each raises SendError on failure; the worker retries with backoff. Error messages carry the
failure's class and status only, never alert content.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import RetryAfter, TelegramError

from bot.escalation import messages
from bot.escalation.config import AlertConfig, ClinicAlerts
from bot.escalation.deliveries import DeliveryJob


class SendError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: HMAC-SHA256 over "<timestamp>.<body>", hex, prefixed sha256=."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def ack_callback(delivery_id: int) -> str:
    return f"ack:{delivery_id}"


class TelegramSender:
    def __init__(self, config: AlertConfig) -> None:
        assert config.telegram_token
        self.config = config
        self.bot = Bot(config.telegram_token, base_url=f"{config.telegram_api_url}/bot")

    async def send(self, job: DeliveryJob, clinic: ClinicAlerts) -> None:
        chat = (
            clinic.telegram_backup_chat
            if job.level > 0 and clinic.telegram_backup_chat
            else clinic.telegram_chat
        )
        if not chat:
            raise SendError("no Telegram chat configured")
        rows = [[InlineKeyboardButton("Acknowledge", callback_data=ack_callback(job.id))]]
        link = messages.portal_link(self.config.public_url, job.flag_id)
        if link.startswith("https://"):  # Telegram only accepts public https links on buttons
            rows.append([InlineKeyboardButton("Open in portal", url=link)])
        try:
            await self.bot.send_message(
                chat_id=chat,
                text=messages.body(job, self.config.public_url),
                reply_markup=InlineKeyboardMarkup(rows),
            )
        except RetryAfter as exc:  # flood control: honour Telegram's wait
            raise SendError(
                "telegram RetryAfter",
                retry_after=float(
                    exc.retry_after.total_seconds()
                    if hasattr(exc.retry_after, "total_seconds")
                    else exc.retry_after
                ),
            ) from None
        except TelegramError as exc:
            raise SendError(f"telegram {type(exc).__name__}") from None


class EmailSender:
    def __init__(self, config: AlertConfig) -> None:
        assert config.smtp is not None
        self.config = config
        self.smtp = config.smtp

    def _send_sync(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=20) as client:
            if self.smtp.starttls:
                client.starttls()
            if self.smtp.username:
                client.login(self.smtp.username, self.smtp.password or "")
            client.send_message(msg)

    async def send(self, job: DeliveryJob, clinic: ClinicAlerts) -> None:
        to = clinic.email_backup_to if job.level > 0 and clinic.email_backup_to else clinic.email_to
        if not to:
            raise SendError("no e-mail recipients configured")
        msg = EmailMessage()
        msg["From"] = self.smtp.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = messages.subject(job)
        # A stable Message-ID per delivery lets mail systems drop a resend after a crash.
        msg["Message-ID"] = make_msgid(idstring=f"interlude-delivery-{job.id}", domain="interlude.invalid")
        msg.set_content(messages.body(job, self.config.public_url))
        try:
            await asyncio.to_thread(self._send_sync, msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"smtp {type(exc).__name__}") from None


class WebhookSender:
    def __init__(self, config: AlertConfig) -> None:
        self.config = config

    async def send(self, job: DeliveryJob, clinic: ClinicAlerts) -> None:
        if not clinic.webhook_url or not clinic.webhook_secret:
            raise SendError("no webhook configured")
        body = json.dumps(messages.webhook_payload(job, self.config.public_url), sort_keys=True).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Interlude-Delivery": str(job.id),  # receivers de-duplicate on this
            "X-Interlude-Timestamp": ts,
            "X-Interlude-Signature": sign(clinic.webhook_secret, ts, body),
        }
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                resp = await client.post(clinic.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendError(f"webhook {type(exc).__name__}") from None
        if resp.status_code == 429:
            raise SendError("webhook 429", retry_after=float(resp.headers.get("Retry-After", "30") or 30))
        if not 200 <= resp.status_code < 300:
            raise SendError(f"webhook HTTP {resp.status_code}")


def build_senders(config: AlertConfig) -> dict[str, object]:
    senders: dict[str, object] = {"webhook": WebhookSender(config)}
    if config.telegram_token:
        senders["telegram"] = TelegramSender(config)
    if config.smtp is not None:
        senders["email"] = EmailSender(config)
    return senders
