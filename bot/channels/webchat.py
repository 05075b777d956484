"""Patients in the web chat widget: a socket.io input channel with Rasa's default event names.

Rasa's stock socketio channel checks a token at connect but then lets the client pick its
`session_id`, so one patient could write into another's conversation. Here the conversation
is derived from the verified token only:

- `connect` needs `auth: {token}` (the secret from the patient's personal link; optionally
  `clinic`, the slug the page was built for). The token is checked against the database; the
  socket joins the room of that patient and remembers which patient it is.
- `session_request` ignores any client-sent session id and confirms the patient's own one,
  then sends the conversation so far (`history`), so a reload or a reconnect keeps it.
- `user_uttered` ignores client ids and metadata; the token is checked again on every
  message, so a withdrawn link stops an open chat too.
- Replies go to the patient's room (`bot_uttered`), so every open tab sees them, and
  proactive messages (a clinician, a check-in) reach the widget the same way.

Rasa binds to 127.0.0.1; browsers reach `/socket.io/` through Interlude's web app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError

from bot import runtime
from bot.channels import wording
from bot.channels.inbound import SenderQueue, is_risky, sanitize
from bot.config import Settings
from bot.store.api import MAX_TEXT_CHARS, CredentialRefused, PatientRef

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
USER_EVENT = "user_uttered"
BOT_EVENT = "bot_uttered"
HISTORY_LIMIT = 100
#: Keys of a bot message that the widget understands (Rasa merges message metadata into it).
FORWARDED = ("from", "handoff")


def bot_payload(text: str | None, buttons: list[dict[str, Any]] | None, extra: dict[str, Any]) -> dict:
    """One `bot_uttered` payload, in Rasa's socket.io format plus Interlude's metadata."""
    payload: dict[str, Any] = {"text": text or ""}
    if buttons:
        payload["quick_replies"] = [
            {"content_type": "text", "title": b.get("title"), "payload": b.get("payload")} for b in buttons
        ]
    nested = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    meta = {k: v for k in FORWARDED if (v := extra.get(k) or nested.get(k))}
    if meta:
        payload["metadata"] = meta
    return payload


class WebChatOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, sio: AsyncServer) -> None:
        self.sio = sio

    async def _emit(self, recipient_id: str, payload: dict[str, Any]) -> None:
        await self.sio.emit(BOT_EVENT, payload, room=recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._emit(recipient_id, bot_payload(text, None, kwargs))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._emit(recipient_id, bot_payload(text, buttons, kwargs))

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._emit(recipient_id, bot_payload(text, quick_replies, kwargs))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._emit(recipient_id, bot_payload(image, None, kwargs))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        logger.warning("custom payloads are not sent to the web chat; skipped one for %s", recipient_id)


def history_items(events: list[Any], limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The conversation as the widget shows it: patient and bot texts, oldest first.

    Button payloads the patient sent ("/affirm") are shown as the button's title."""
    items: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in events:
        if isinstance(event, BotUttered) and (event.text or event.data.get("buttons")):
            buttons = event.data.get("buttons") or []
            titles = {str(b.get("payload")): str(b.get("title")) for b in buttons}
            items.append({"role": "bot", **bot_payload(event.text, buttons, event.metadata or {})})
        elif isinstance(event, UserUttered) and event.text and not (event.metadata or {}).get("is_external"):
            if event.text.startswith("/") and event.text not in titles:
                continue  # "/greet" sent by the widget or channel itself, not the patient's words
            items.append({"role": "patient", "text": titles.get(event.text, event.text)})
    # Only the newest message's buttons can still be pressed.
    for item in items[:-1]:
        item.pop("quick_replies", None)
    return items[-limit:]


class WebChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(runtime.settings(), (credentials or {}).get("socketio_path", "/socket.io"))

    def __init__(self, settings: Settings, socketio_path: str = "/socket.io") -> None:
        self.settings = settings
        self.socketio_path = socketio_path
        self.sio: AsyncServer | None = None
        self.queue = SenderQueue()
        self._app: Any = None

    def get_output_channel(self) -> OutputChannel | None:
        return WebChatOutput(self.sio) if self.sio is not None else None

    def _crisis_text(self) -> str:
        return wording.with_resources(
            CHANNEL, "unbound_crisis", self.settings.default_locale, self.settings.clinic_urgent_line
        )

    async def _verify(self, token: object) -> PatientRef:
        if not isinstance(token, str) or not token:
            raise CredentialRefused("missing", "No chat token was given.")
        return await asyncio.to_thread(runtime.store().patient_for_web_token, token)

    async def _history(self, ref: str) -> list[dict[str, Any]]:
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None or agent.tracker_store is None:
            return []
        # Across Rasa sessions (a session ends after hours of silence), newest messages only.
        store = agent.tracker_store
        while hasattr(store, "_tracker_store"):  # Rasa wraps ours (FailSafe, Awaitable)
            store = store._tracker_store
        if hasattr(store, "recent_messages"):
            return history_items(await asyncio.to_thread(store.recent_messages, ref, 4 * HISTORY_LIMIT))
        tracker = await agent.tracker_store.retrieve(ref)
        return history_items(list(tracker.events)) if tracker is not None else []

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> SocketBlueprint:
        # Origins are checked by python-socketio against Interlude's own and configured ones.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.settings.allowed_origins)
        self.sio = sio
        bp = SocketBlueprint(sio, self.socketio_path, "interlude_webchat", __name__)

        @bp.listener("after_server_start")
        async def _keep_app(app: Any, loop: Any) -> None:
            self._app = app  # for the tracker store (history)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        def refusal(reason: str) -> ConnectionRefusedError:
            # The client sees err.message (words for the patient) and err.data.reason.
            return ConnectionRefusedError(wording.text(CHANNEL, reason), {"reason": reason})

        @sio.on("connect")
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            auth = auth if isinstance(auth, dict) else {}
            try:
                patient = await self._verify(auth.get("token"))
            except CredentialRefused as exc:
                raise refusal(exc.reason) from None
            clinic = auth.get("clinic")
            if clinic:
                slug = await asyncio.to_thread(runtime.store().clinic_slug, patient.clinic_id)
                if clinic != slug:
                    raise refusal("wrong_clinic")
            await sio.save_session(sid, {"ref": patient.ref, "token": auth["token"]})
            sio.enter_room(sid, patient.ref)  # python-socketio 5.8: synchronous
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid)
            ref = session["ref"]
            # Whatever session_id the client asked for, it gets its own conversation.
            await sio.emit("session_confirm", ref, room=sid)
            try:
                items = await self._history(ref)
            except Exception as exc:
                logger.error("webchat: history for %s failed (%s)", ref, type(exc).__name__)
                items = []
            await sio.emit("history", items, room=sid)

        async def error(sid: str, reason: str, **values: object) -> None:
            await sio.emit(
                "chat_error", {"reason": reason, "message": wording.text(CHANNEL, reason, **values)}, room=sid
            )

        @sio.on(USER_EVENT)
        async def handle_message(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid)
            ref = session["ref"]
            text = data.get("message") if isinstance(data, dict) else None
            risky = isinstance(text, str) and is_risky(text, self.settings.safety_threshold)
            if not self.queue.admit(ref) and not risky:  # limits never drop risky words
                await error(sid, "too_fast")
                return
            # The per-patient lock is the first thing awaited, so messages keep their order.
            await self.queue.run(ref, lambda: self._handle(sid, session, text, risky, on_new_message, error))

        return bp

    async def _handle(
        self,
        sid: str,
        session: dict[str, Any],
        text: object,
        risky: bool,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        error: Callable[..., Awaitable[None]],
    ) -> None:
        """One message, in order. `risky` was assessed once on arrival (see handle_message)."""
        sio = self.sio
        assert sio is not None
        try:
            patient = await self._verify(session.get("token"))  # a withdrawn link stops open chats too
        except CredentialRefused as exc:
            if risky:
                # The link no longer names a patient, so no flag can be written and nobody
                # will see this; the crisis numbers still come before the refusal.
                await sio.emit(BOT_EVENT, bot_payload(self._crisis_text(), None, {}), room=sid)
            await error(sid, exc.reason)
            await sio.disconnect(sid)
            return
        if not isinstance(text, str) or not text.strip():
            await error(sid, "not_text")
            return
        if len(text) > MAX_TEXT_CHARS and not risky:
            # Too long to keep as an entry; risky words still go on to the safety path, which
            # keeps the head and tail of a long text with the flag.
            await error(sid, "too_long", limit=f"{MAX_TEXT_CHARS:,}")
            return
        # Client metadata is never passed on: only Rasa's API may mark a message external.
        message = UserMessage(sanitize(text), WebChatOutput(sio), patient.ref, input_channel=CHANNEL)
        await sio.emit("bot_typing", {"typing": True}, room=patient.ref)
        try:
            await on_new_message(message)
        finally:
            await sio.emit("bot_typing", {"typing": False}, room=patient.ref)
