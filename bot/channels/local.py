"""A token-protected JSON channel for Interlude's own clients (the `interlude chat` terminal).

Unlike Rasa's REST channel it refuses callers without Interlude's API token, accepts only
enrolled patients as senders, and never logs message text. Rasa binds it to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import runtime
from bot.channels import fallback, wording
from bot.channels.textcheck import check, normalise
from bot.checkins.saving import UNAVAILABLE
from bot.lastknown import LastKnown
from bot.store.errors import MAX_TEXT_CHARS

logger = logging.getLogger(__name__)

#: Longer messages are refused (413) unless risky; see bot/channels/textcheck.py.
MAX_MESSAGE_CHARS = MAX_TEXT_CHARS
#: Proactive messages kept per patient until the terminal client collects them.
MAX_OUTBOX = 200


class OutboxOutputChannel(CollectingOutputChannel):
    """Proactive messages (a clinician during a handoff, later check-ins) for the terminal
    client, which collects them from GET /webhooks/local/outbox."""

    def __init__(self, outbox: dict[str, list[dict]]) -> None:
        super().__init__()
        self._outbox = outbox

    @classmethod
    def name(cls) -> str:
        return "local"

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        queue = self._outbox.setdefault(message["recipient_id"], [])
        queue.append(message)
        del queue[:-MAX_OUTBOX]


class LocalChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "local"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        token = (credentials or {}).get("token") or os.environ.get("INTERLUDE_API_TOKEN", "")
        if not token:
            raise ValueError("The local channel needs INTERLUDE_API_TOKEN.")
        return cls(token)

    def __init__(self, token: str) -> None:
        self.token = token
        self.outbox: dict[str, list[dict]] = {}
        # Who is enrolled, as last read: a patient's conversation goes on while the database is
        # unreachable (Rasa's tracker store serves it from memory; bot/lastknown.py).
        self.patients = LastKnown()

    def get_output_channel(self) -> OutboxOutputChannel:
        return OutboxOutputChannel(self.outbox)

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("interlude_local", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "A valid API token is required."}, status=401)
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "The body must be a JSON object."}, status=400)
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender or len(sender) > 200:
                return response.json({"error": "'sender' must be a patient id."}, status=400)
            sender = normalise(sender)
            if not isinstance(text, str):
                return response.json({"error": "'message' must be a string."}, status=400)
            # Caps, normalisation and the (bounded, off-loop) risk check before anything heavy.
            inbound = await check(text, runtime.settings().safety_threshold)
            if inbound.refused == "too_long":
                return response.json(
                    {"error": f"Messages are limited to {MAX_MESSAGE_CHARS:,} characters."},
                    status=413,
                )
            if inbound.refused == "not_text":
                return response.json({"error": "'message' must contain some text."}, status=400)
            text = inbound.text
            message_id = uuid.uuid4().hex  # also the key of a pending flag, if one is needed

            def crisis_reply() -> HTTPResponse:
                # The assistant could not answer a risky message: the channel does, and keeps
                # the flag for later (bot/channels/fallback.py).
                fallback.keep_flag(sender, message_id, text, inbound.risk)
                return response.json([{"recipient_id": sender, "text": fallback.unavailable_crisis_text()}])

            def unavailable_reply() -> HTTPResponse:
                # Honest: this message was not kept, and when to send it again.
                return response.json([{"recipient_id": sender, "text": wording.text("local", "unavailable")}])

            try:
                patient = await asyncio.to_thread(
                    self.patients.get, runtime.store().patients.find_patient, sender
                )
            except UNAVAILABLE as exc:
                logger.error("local channel: database unavailable (%s)", type(exc).__name__)
                return crisis_reply() if inbound.risky else unavailable_reply()
            if patient is None:
                return response.json({"error": "No enrolled patient has that id."}, status=404)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(), message_id=message_id)
                )
            except Exception as exc:
                logger.error("local channel: message handling failed (%s)", type(exc).__name__)
                return crisis_reply() if inbound.risky else unavailable_reply()
            return response.json(collector.messages)

        @bp.route("/outbox", methods=["GET"])
        async def outbox(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "A valid API token is required."}, status=401)
            sender = request.args.get("sender", "")
            return response.json(self.outbox.pop(sender, []))

        return bp
