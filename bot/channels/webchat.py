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
- Replies go to every socket of the patient (`bot_uttered`), so every open tab sees them, and
  proactive messages (a clinician, a check-in) reach the widget the same way. Each socket's
  token is checked again at the point of emit: a reply is never sent to a socket whose link
  was withdrawn (`patient revoke-web`), replaced (`patient links`), deleted or expired.
- Links are withdrawn by other processes (the CLI, the portal), so every SWEEP_SECONDS the
  channel checks the tokens of all open sockets against the store in one read and
  disconnects those no longer valid, idle ones included (a lost or stolen phone).

Rasa binds to 127.0.0.1; browsers reach `/socket.io/` through Interlude's web app.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
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
from bot.channels import fallback, wording
from bot.channels.inbound import SenderQueue, sanitize
from bot.channels.relay import Relay
from bot.channels.sio_guard import GuardedAsyncServer
from bot.channels.textcheck import check
from bot.checkins.saving import UNAVAILABLE
from bot.config import Settings
from bot.lastknown import LastKnown
from bot.patients.store import PatientRef
from bot.store.errors import MAX_TEXT_CHARS, CredentialRefused

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
USER_EVENT = "user_uttered"
BOT_EVENT = "bot_uttered"
HISTORY_LIMIT = 100
#: How often open sockets are checked against the store (withdrawn links end within this).
SWEEP_SECONDS = 2.0
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

    def __init__(
        self, sio: AsyncServer, live: Callable[[str], Awaitable[list[str]]], relay: Relay | None = None
    ) -> None:
        self.sio = sio
        self.live = live  # the room's sockets whose token is still valid (others are dropped)
        self.relay = relay  # several replicas: the patient's sockets elsewhere (relay.py)

    async def _emit(self, recipient_id: str, payload: dict[str, Any]) -> None:
        for sid in await self.live(recipient_id):
            await self.sio.emit(BOT_EVENT, payload, room=sid)
        if self.relay is not None:
            try:
                await self.relay.publish(recipient_id, payload)
            except Exception as exc:  # sockets on this replica already have it
                logger.warning("webchat: could not pass a message to other replicas (%s)", type(exc).__name__)

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
        self.known = LastKnown()  # token and clinic checks, as last read
        self._app: Any = None
        self.relay: Relay | None = None

    def get_output_channel(self) -> OutputChannel | None:
        return WebChatOutput(self.sio, self.live_sockets, self.relay) if self.sio is not None else None

    async def _tokens(self, sids: list[str]) -> dict[str, str]:
        """sid -> token of each socket still connected."""
        assert self.sio is not None
        tokens: dict[str, str] = {}
        for sid in sids:
            try:
                session = await self.sio.get_session(sid)
            except KeyError:  # disconnected meanwhile
                continue
            if session.get("token"):
                tokens[sid] = session["token"]
        return tokens

    def _sids(self, room: str | None) -> list[str]:
        assert self.sio is not None
        if "/" not in self.sio.manager.rooms:
            return []
        return [sid for sid, _ in self.sio.manager.get_participants("/", room)]

    async def _drop(self, sid: str, reason: str) -> None:
        """Tell the widget why (so it can show it) and close the socket."""
        assert self.sio is not None
        try:
            await self.sio.emit(
                "chat_error", {"reason": reason, "message": wording.text(CHANNEL, reason)}, room=sid
            )
            await self.sio.disconnect(sid)
        except Exception as exc:  # an already-closed socket is fine
            logger.debug("webchat: dropping %s: %s", sid, type(exc).__name__)

    async def _check(self, sids: list[str]) -> list[str]:
        """The sockets among `sids` whose token is still valid; the others are disconnected."""
        tokens = await self._tokens(sids)
        if not tokens:
            return []
        refusals = await asyncio.to_thread(runtime.store().patients.web_token_refusals, list(tokens.values()))
        live = []
        for sid, token in tokens.items():
            if token in refusals:
                await self._drop(sid, refusals[token])
            else:
                live.append(sid)
        return live

    async def live_sockets(self, room: str) -> list[str]:
        """The patient's sockets that may still be sent to, checked against the store now.

        If the store cannot be read (a database outage), the room's sockets are used as they
        are: crisis resources must still reach the patient during an outage, and the sweep had
        already dropped any socket whose link was withdrawn while the store was readable."""
        sids = self._sids(room)
        try:
            return await self._check(sids)
        except Exception as exc:
            logger.warning("webchat: could not check tokens before a reply (%s)", type(exc).__name__)
            return sids

    async def sweep(self) -> int:
        """Check every open socket once; returns how many were disconnected."""
        sids = self._sids(None)
        if not sids:
            return 0
        return len(sids) - len(await self._check(sids))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception as exc:  # the database may be down; try again next round
                logger.warning("webchat: token sweep failed (%s)", type(exc).__name__)

    async def _deliver(self, ref: str, payload: dict[str, Any]) -> None:
        """A message another replica sent this patient: to the sockets held here, checked."""
        assert self.sio is not None
        for sid in await self.live_sockets(ref):
            await self.sio.emit(BOT_EVENT, payload, room=sid)

    def _crisis_text(self) -> str:
        return wording.with_resources(
            CHANNEL, "unbound_crisis", self.settings.default_locale, self.settings.clinic_urgent_line
        )

    async def _verify(self, token: object) -> PatientRef:
        if not isinstance(token, str) or not token:
            raise CredentialRefused("missing", "No chat token was given.")
        # The last answer for this link while the database is unreachable: an open chat goes on
        # (a link withdrawn meanwhile cannot be, with the database away; bot/lastknown.py).
        return await asyncio.to_thread(self.known.get, runtime.store().patients.patient_for_web_token, token)

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
        # Malformed socket.io traffic gets a 400, not a 500 or a traceback (sio_guard.py).
        sio = GuardedAsyncServer(async_mode="sanic", cors_allowed_origins=self.settings.allowed_origins)
        self.sio = sio
        if os.environ.get("INTERLUDE_WEBCHAT_RELAY") == "1":  # set for several replicas
            self.relay = Relay(self.settings.redis_url, self.settings.redis_prefix, self._deliver)
        bp = SocketBlueprint(sio, self.socketio_path, "interlude_webchat", __name__)

        @bp.listener("after_server_start")
        async def _keep_app(app: Any, loop: Any) -> None:
            self._app = app  # for the tracker store (history)
            app.add_task(self._sweep_forever())
            if self.relay is not None:
                app.add_task(self.relay.listen_forever())

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
                slug = await asyncio.to_thread(
                    self.known.get, runtime.store().staff.clinic_slug, patient.clinic_id
                )
                if clinic != slug:
                    raise refusal("wrong_clinic")
            await sio.save_session(sid, {"ref": patient.ref, "token": auth["token"]})
            sio.enter_room(sid, patient.ref)  # python-socketio 5.8: synchronous
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid)
            ref = session["ref"]
            if not await self.live_sockets(sid):  # the link was withdrawn since connecting
                return
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
            raw = data.get("message") if isinstance(data, dict) else None
            if not self.queue.admit(ref) and not (await check(raw, self.settings.safety_threshold)).risky:
                await error(sid, "too_fast")  # limits never drop risky words
                return
            # The per-patient lock is the first thing awaited, so messages keep their order.
            await self.queue.run(ref, lambda: self._checked(sid, session, raw, on_new_message, error))

        return bp

    async def _checked(self, sid: str, session: dict[str, Any], raw: object, *args: Any) -> None:
        """Normalise, cap and risk-assess (off the event loop) before anything heavy; _handle
        then refuses what the check refused (not text, too long) with the usual replies."""
        inbound = await check(raw, self.settings.safety_threshold)
        text = {None: inbound.text, "too_long": raw}.get(inbound.refused)
        try:
            await self._handle(sid, session, text, inbound.risky, *args)
        except UNAVAILABLE as exc:  # the token could not be checked: the database is away
            logger.error("webchat: database unavailable (%s)", type(exc).__name__)
            assert self.sio is not None
            if inbound.risky:  # crisis resources from the channel itself, the flag kept for later
                fallback.keep_flag(session["ref"], uuid.uuid4().hex, inbound.text, inbound.risk)
                crisis = bot_payload(fallback.unavailable_crisis_text(), None, {})
                await self.sio.emit(BOT_EVENT, crisis, room=sid)
            else:
                reason = "unavailable"
                await self.sio.emit(
                    "chat_error", {"reason": reason, "message": wording.text(CHANNEL, reason)}, room=sid
                )

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
        message = UserMessage(
            sanitize(text),
            WebChatOutput(sio, self.live_sockets, self.relay),
            patient.ref,
            input_channel=CHANNEL,
        )
        await sio.emit("bot_typing", {"typing": True}, room=patient.ref)
        try:
            await on_new_message(message)
        except Exception as exc:  # the assistant could not answer (its database away, say)
            logger.error("webchat: message handling failed (%s)", type(exc).__name__)
            if risky:  # crisis resources from the channel itself; the flag is kept for later
                fallback.keep_flag(patient.ref, message.message_id, message.text, None)
                await sio.emit(
                    BOT_EVENT, bot_payload(fallback.unavailable_crisis_text(), None, {}), room=patient.ref
                )
            else:
                await error(sid, "unavailable")
        finally:
            await sio.emit("bot_typing", {"typing": False}, room=patient.ref)
