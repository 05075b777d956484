"""Patients on Telegram: a Rasa input channel built on python-telegram-bot 22.

Rasa's own Telegram channel (aiogram 2) is webhook-only and breaks proactive messages
(rasa#13040), so this one is ours:

- **Polling** by default (one box, no public URL), a getUpdates loop inside Rasa's event
  loop; **webhook** mode for production, where Interlude's web app forwards
  `/telegram/webhook` here and every request must carry Telegram's secret token (else 403).
- A chat is bound to a patient by `/start <code>` (a one-time enrollment code); an unknown chat
  gets a polite explanation and nothing about it is stored. Every bound message goes to Rasa,
  where the risk check runs first; text the channel would not pass on (an edit, a caption, an
  unknown chat) is risk-checked here, and passed on or answered with crisis numbers if risky.
- Replies are plain text (no parse mode, so nothing needs escaping and nothing can inject
  markup), split under Telegram's 4096-character limit, with buttons as inline keyboards.
  Flood control (429 retry_after) is honoured; a send is retried only when it surely failed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from bot import runtime
from bot.channels import fallback, wording
from bot.channels.inbound import SeenIds, SenderQueue, sanitize
from bot.channels.textcheck import Inbound, check
from bot.config import Settings
from bot.lastknown import LastKnown
from bot.patients.store import PatientRef
from bot.store.errors import MAX_TEXT_CHARS, CredentialRefused

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SEND_ATTEMPTS = 5


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split `text` into parts of at most `limit` characters, at paragraph, line or word
    boundaries where possible; never drops or reorders characters (bar the split whitespace)."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:  # no sensible boundary: hard cut
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def keyboard(buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup:
    """Inline keyboard for Rasa buttons: short titles (a 0-10 scale) six to a row, others one each."""
    items = [
        InlineKeyboardButton(str(b.get("title", ""))[:64], callback_data=str(b.get("payload", ""))[:64])
        for b in buttons
    ]
    width = 6 if all(len(str(b.get("title", ""))) <= 3 for b in buttons) else 1
    return InlineKeyboardMarkup([items[i : i + width] for i in range(0, len(items), width)])


def _seconds(value: object) -> float:
    return float(value.total_seconds()) if isinstance(value, timedelta) else float(value)  # type: ignore[arg-type]


async def send_with_retry(call: Callable[[], Awaitable[Any]], *, what: str) -> Any:
    """Run one Bot API call, honouring flood control and retrying failures that surely did not
    send. A timeout is ambiguous (Telegram may have delivered it), so it is not retried: a
    message is never sent twice."""
    delay = 0.5
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            logger.warning("telegram flood control on %s: waiting %.1fs", what, wait)
            await asyncio.sleep(wait)
        except Forbidden:
            logger.warning("telegram %s refused: the patient has blocked the bot", what)
            return None
        except BadRequest as exc:
            logger.error("telegram %s rejected (%s)", what, type(exc).__name__)
            return None
        except TimedOut:
            logger.error("telegram %s timed out; not retried, it may have been delivered", what)
            return None
        except NetworkError as exc:
            if attempt == SEND_ATTEMPTS:
                logger.error("telegram %s failed after %d attempts (%s)", what, attempt, type(exc).__name__)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
    return None


class TelegramOutput(OutputChannel):
    """Sends Rasa's replies (and proactive messages) to the patient's bound chat."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, bot: Bot, chat_for: Callable[[str], Awaitable[int | None]]) -> None:
        self.bot = bot
        self._chat_for = chat_for

    async def _send(self, recipient_id: str, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        chat = await self._chat_for(recipient_id)
        if chat is None:
            logger.error("no Telegram chat is bound to %s; message not sent", recipient_id)
            return
        parts = split_text(text) or [""]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await send_with_retry(
                lambda part=part, last=last: self.bot.send_message(
                    chat_id=chat, text=part, reply_markup=markup if last else None
                ),
                what="sendMessage",
            )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, keyboard(buttons))

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, keyboard(quick_replies))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:  # type: ignore[override]
        logger.warning("attachments are not sent on Telegram; skipped one for %s", recipient_id)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        logger.warning("custom payloads are not sent on Telegram; skipped one for %s", recipient_id)


class TelegramInput(InputChannel):
    """The patients' Telegram bot. Without INTERLUDE_TELEGRAM_TOKEN it is registered but off."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(runtime.settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = bool(settings.telegram_token)
        self.bot: Bot | None = None
        self.queue = SenderQueue()
        self.seen = SeenIds()
        self.known = LastKnown()  # who a chat is, as last read
        self._chats: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None
        if self.enabled:
            base = f"{settings.telegram_api_url}/bot"
            # Long polls wait up to 10 s; sends get generous timeouts, since a timed-out send is
            # not retried (see send_with_retry).
            self.bot = Bot(
                settings.telegram_token,
                base_url=base,
                base_file_url=f"{settings.telegram_api_url}/file/bot",
                request=HTTPXRequest(connection_pool_size=16, read_timeout=30, write_timeout=30),
                get_updates_request=HTTPXRequest(read_timeout=20),
            )

    # ------------------------------------------------------------------ output
    def get_output_channel(self) -> OutputChannel | None:
        return TelegramOutput(self.bot, self._chat_for) if self.bot is not None else None

    async def _chat_for(self, ref: str) -> int | None:
        if ref in self._chats:
            return self._chats[ref]
        pairs = await asyncio.to_thread(runtime.store().patients.channel_identities, ref)
        chats = [int(ext) for ch, ext in pairs if ch == CHANNEL]
        if chats:
            self._chats[ref] = chats[-1]
            return chats[-1]
        return None

    async def _say(self, chat_id: int, text: str) -> None:
        assert self.bot is not None
        await send_with_retry(lambda: self.bot.send_message(chat_id=chat_id, text=text), what="sendMessage")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect to the Bot API and start receiving updates (polling) or register the webhook."""
        assert self.bot is not None
        delay = 1.0
        while True:  # Telegram unreachable at start-up must not stop Rasa: keep trying
            try:
                await self.bot.initialize()
                break
            except TelegramError as exc:
                logger.error("telegram: cannot reach the Bot API (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
        if self.settings.telegram_mode == "webhook":
            url = self.settings.portal_base_url + self.settings.telegram_webhook_path
            await send_with_retry(
                lambda: self.bot.set_webhook(
                    url=url,
                    secret_token=self.settings.telegram_webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                ),
                what="setWebhook",
            )
            logger.info("telegram: webhook mode as @%s", self.bot.username)
            return
        if os.environ.get("INTERLUDE_TELEGRAM_POLLER", "1") == "0":
            # Another Rasa replica polls (Telegram allows one getUpdates caller); this one sends.
            logger.info("telegram: as @%s, sending only (another replica polls)", self.bot.username)
            return
        await send_with_retry(self.bot.delete_webhook, what="deleteWebhook")  # polling needs none
        self._spawn(self._poll())
        logger.info("telegram: polling as @%s", self.bot.username)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.bot is not None:
            try:
                await self.bot.shutdown()
            except TelegramError:
                pass

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _poll(self) -> None:
        """Long-poll getUpdates. Each update is parsed on its own (PTB's Updater parses a batch
        at once, so one malformed update would stall it forever); a bad one is logged, skipped."""
        assert self.bot is not None
        offset: int | None = None
        delay = 1.0
        while True:
            try:
                raw = await self.bot.do_api_request(
                    "getUpdates",
                    api_kwargs={"offset": offset, "timeout": 10, "allowed_updates": ALLOWED_UPDATES},
                    read_timeout=25,
                )
                delay = 1.0
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except TelegramError as exc:
                logger.warning(
                    "telegram: getUpdates failed (%s); retrying in %.0fs", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            for item in raw if isinstance(raw, list) else []:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                if isinstance(update_id, int):
                    offset = max(offset or 0, update_id + 1)
                try:
                    update = Update.de_json(item, self.bot)
                except Exception as exc:
                    logger.warning("telegram: skipped a malformed update (%s)", type(exc).__name__)
                    continue
                if update is not None:
                    self._spawn(self.handle_update(update))

    # ------------------------------------------------------------------ updates
    @staticmethod
    def _chat_of(update: Update) -> int | None:
        if update.callback_query is not None:
            query = update.callback_query
            return query.message.chat.id if isinstance(query.message, Message) else query.from_user.id
        message = update.message or update.edited_message
        return message.chat.id if message is not None else None

    async def handle_update(self, update: Update) -> None:
        """Handle one update; never raises (a bad update must not stop the channel).

        One chat's updates are handled one at a time, in arrival order: the per-chat lock is
        the first thing awaited, so the order in which updates were spawned is kept."""
        if not self.seen.first_time(update.update_id):
            return
        chat_id = self._chat_of(update)
        if chat_id is None:
            logger.debug("telegram: ignored an update of another kind (%s)", update.update_id)
            return
        if not self.queue.admit(str(chat_id)) and not await self._risky_update(update):
            # Limits never drop risky words: those go on, whatever the rate.
            await self._say(chat_id, wording.text(CHANNEL, "too_fast"))
            return
        try:
            await self.queue.run(str(chat_id), lambda: self._dispatch(update))
        except Exception as exc:
            logger.error("telegram: update %s failed (%s)", update.update_id, type(exc).__name__)

    async def _risky_update(self, update: Update) -> bool:
        message = update.message or update.edited_message
        words = (message.text or message.caption or "") if message is not None else ""
        return bool(words) and (await check(words, self.settings.safety_threshold)).risky

    async def _dispatch(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._on_callback(update)
        elif update.message is not None:
            await self._on_message(update.message, edited=False)
        elif update.edited_message is not None:
            await self._on_message(update.edited_message, edited=True)

    def _resources_text(self, key: str) -> str:
        return wording.with_resources(
            CHANNEL, key, self.settings.default_locale, self.settings.clinic_urgent_line
        )

    async def _patient(self, chat_id: int) -> PatientRef | None:
        # The last answer while the database is unreachable: the conversation goes on.
        patient = await asyncio.to_thread(
            self.known.get, runtime.store().patients.patient_for_identity, CHANNEL, str(chat_id)
        )
        if patient is not None:
            self._chats[patient.ref] = chat_id
        return patient

    async def _on_message(self, message: Message, *, edited: bool) -> None:
        chat_id = message.chat.id
        words = message.text if message.text is not None else (message.caption or "")
        # Assessed before any reply the channel gives itself (commands, refusals included):
        # normalised, capped, and off the event loop for long texts (bot/channels/textcheck.py).
        inbound = await check(words, self.settings.safety_threshold)
        risky = inbound.risky
        if inbound.refused is None:
            words = inbound.text  # valid text; only the risky passages of an over-long one
        text = words if message.text is not None else None
        if message.chat.type != "private":
            if risky:  # nobody is bound to a group chat: nothing stored, crisis numbers shown
                await self._say(chat_id, self._resources_text("unknown_chat_crisis"))
            await self._say(chat_id, self._resources_text("group_chat"))
            return
        if text is not None and text.startswith("/") and not edited and not risky:
            if await self._on_command(chat_id, text):
                return
        try:
            patient = await self._patient(chat_id)
        except Exception as exc:  # the database is away: the channel answers on its own
            await self._unavailable(chat_id, None, uuid.uuid4().hex, words, inbound, exc)
            return
        if patient is None:
            # Nothing is stored for an unknown chat; risky words still get crisis numbers.
            if risky:
                await self._say(chat_id, self._resources_text("unknown_chat_crisis"))
            await self._say(chat_id, self._resources_text("unknown_chat"))
            return
        if text is None or edited:
            # Not passed on: photos, voice, stickers, files, edits. Unless risky: then Rasa
            # sees the words, so the safety path (flag first, then resources) runs as usual.
            if risky:
                await self._to_rasa_guarded(patient, chat_id, words, inbound)
            else:
                await self._say(chat_id, wording.text(CHANNEL, "edited" if edited else "text_only"))
            return
        if inbound.refused == "too_long":
            await self._say(chat_id, wording.text(CHANNEL, "too_long", limit=f"{MAX_TEXT_CHARS:,}"))
            return
        await self._to_rasa_guarded(patient, chat_id, sanitize(text), inbound)

    async def _to_rasa_guarded(self, patient: PatientRef, chat_id: int, text: str, inbound: Inbound) -> None:
        message_id = uuid.uuid4().hex  # Rasa's message id, and the key of a pending flag
        try:
            await self._to_rasa(patient, chat_id, text, message_id=message_id)
        except Exception as exc:  # the assistant could not answer (its database away, say)
            await self._unavailable(chat_id, patient.ref, message_id, text, inbound, exc)

    async def _unavailable(
        self, chat_id: int, ref: str | None, message_id: str, words: str, inbound: Inbound, exc: Exception
    ) -> None:
        """Risky words get crisis resources and a pending flag from the channel itself
        (bot/channels/fallback.py); anything else an honest "try again"."""
        logger.error("telegram: the assistant could not answer (%s)", type(exc).__name__)
        if inbound.risky:
            known = ref or next((r for r, c in self._chats.items() if c == chat_id), None)
            fallback.keep_flag(known or f"identity:{CHANNEL}:{chat_id}", message_id, words, inbound.risk)
            await self._say(chat_id, fallback.unavailable_crisis_text())
        else:
            await self._say(chat_id, wording.text(CHANNEL, "unavailable"))

    async def _on_command(self, chat_id: int, text: str) -> bool:
        """Handle /start, /help, /stop. False: not one of ours (the text goes on as words)."""
        head, _, arg = text.partition(" ")
        command = head.split("@", 1)[0].lower()
        arg = arg.strip()
        store = runtime.store()
        if command == "/start" and arg:
            try:
                patient = await asyncio.to_thread(
                    store.patients.redeem_enrollment_code, arg, CHANNEL, str(chat_id)
                )
            except CredentialRefused as exc:
                await self._say(chat_id, wording.text(CHANNEL, f"code_{exc.reason}"))
                return True
            self._chats[patient.ref] = chat_id
            self.known.put(store.patients.patient_for_identity, CHANNEL, str(chat_id), value=patient)
            await self._say(chat_id, wording.text(CHANNEL, "enrolled"))
            await self._to_rasa(patient, chat_id, "/greet")  # onboarding and consent follow
            return True
        if command not in ("/start", "/help", "/stop"):
            return False
        patient = await self._patient(chat_id)
        if patient is None:
            await self._say(chat_id, self._resources_text("unknown_chat"))
        elif command == "/help":
            await self._say(chat_id, self._resources_text("help"))
        elif command == "/stop":
            await asyncio.to_thread(store.patients.set_reminders_paused, patient.ref, True, origin=CHANNEL)
            await self._say(chat_id, wording.text(CHANNEL, "reminders_paused"))
        else:  # /start without a code, from a known chat: reminders back on, then hello
            if await asyncio.to_thread(store.patients.reminders_paused, patient.ref):
                await asyncio.to_thread(
                    store.patients.set_reminders_paused, patient.ref, False, origin=CHANNEL
                )
                await self._say(chat_id, wording.text(CHANNEL, "reminders_resumed"))
            await self._to_rasa(patient, chat_id, "/greet")
        return True

    async def _on_callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None and self.bot is not None
        await send_with_retry(query.answer, what="answerCallbackQuery")
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message is not None else query.from_user.id
        patient = await self._patient(chat_id)
        if patient is None:
            await self._say(chat_id, self._resources_text("unknown_chat"))
            return
        if message is not None:
            # One press per question: drop the keyboard so an old button cannot answer a new one.
            await send_with_retry(
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=message.message_id, reply_markup=None
                ),
                what="editMessageReplyMarkup",
            )
        await self._to_rasa(patient, chat_id, sanitize(query.data or ""))

    async def _to_rasa(
        self, patient: PatientRef, chat_id: int, text: str, message_id: str | None = None
    ) -> None:
        assert self._on_new_message is not None and self.bot is not None
        if not text.strip():
            await self._say(chat_id, wording.text(CHANNEL, "unknown_command"))
            return
        await send_with_retry(
            lambda: self.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING),
            what="sendChatAction",
        )
        output = TelegramOutput(self.bot, self._chat_for)
        await self._on_new_message(
            UserMessage(text, output, patient.ref, input_channel=CHANNEL, message_id=message_id)
        )

    # ------------------------------------------------------------------ Rasa wiring
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self._on_new_message = on_new_message
        bp = Blueprint("interlude_telegram", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(
                {"status": "ok", "enabled": self.enabled, "mode": self.settings.telegram_mode}
            )

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self.enabled or self.settings.telegram_mode != "webhook":
                return response.json({"error": "Telegram webhook mode is off."}, status=404)
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.settings.telegram_webhook_secret.encode()):
                logger.warning("telegram: refused a webhook call without the right secret token")
                return response.json({"error": "Forbidden."}, status=403)
            try:
                body = request.json
                valid = isinstance(body, dict) and type(body.get("update_id")) is int
                update = Update.de_json(body, self.bot) if valid else None
            except Exception:
                update = None
            if update is None:
                return response.json({"error": "The body is not a Telegram update."}, status=400)
            # Answer Telegram at once (it retries slow webhooks); the update is handled behind.
            self._spawn(self.handle_update(update))
            return response.json({"ok": True})

        if self.enabled:

            @bp.listener("after_server_start")
            async def _start(app: Any, loop: Any) -> None:
                self._spawn(self.start())

            @bp.listener("before_server_stop")
            async def _stop(app: Any, loop: Any) -> None:
                await self.stop()

        return bp
