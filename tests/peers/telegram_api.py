"""A Telegram Bot API look-alike on loopback: enough of the real API for python-telegram-bot.

It answers getMe, sendMessage, getUpdates (long-polled, with queued updates),
answerCallbackQuery, editMessageText, editMessageReplyMarkup, sendChatAction, setWebhook and
deleteWebhook with the same JSON shapes Telegram returns, records every call, and can be told
to answer the next sendMessage calls with 429 (flood control) first. Tests queue what a user
would do (a message, an edit, a photo, a button press) as updates.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.http import LoopbackServer

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Interlude Alerts", "username": "interlude_alerts_bot"}


class FakeTelegram(LoopbackServer):
    def __init__(
        self, token: str = "123456:TEST-TOKEN", on_send: Any = None, username: str = "interlude_alerts_bot"
    ) -> None:
        self.token = token
        self.bot_user = {**BOT_USER, "username": username}
        self.webhook: dict = {}
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []
        self.updates: list[dict] = []
        self.flood_left = 0
        self.on_send = on_send  # called with each sendMessage payload before it is recorded
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._lock = threading.Lock()
        self._others: dict[str, FakeTelegram] = {}
        super().__init__(
            Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])])
        )

    @property
    def api_url(self) -> str:
        return self.url

    def also_serve(self, other: FakeTelegram) -> FakeTelegram:
        """Serve another bot (another token) from this server, as one Bot API server serves
        every bot: Interlude's alert bot and patients' bot share INTERLUDE_TELEGRAM_API_URL."""
        self._others[other.token] = other
        other.url = self.url
        return other

    def queue_callback(self, *, from_id: int, data: str, message: dict) -> None:
        with self._lock:
            self.updates.append(
                {
                    "update_id": next(self._update_ids),
                    "callback_query": {
                        "id": str(next(self._ids)),
                        "from": {"id": from_id, "is_bot": False, "first_name": "Staff"},
                        "chat_instance": "1",
                        "data": data,
                        "message": message,
                    },
                }
            )

    # ---- what a user does -------------------------------------------------------------
    def _queue(self, update: dict) -> dict:
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
            self.updates.append(update)
            return update

    def user_message(self, chat_id: int, text: str | None = None, **extra: Any) -> dict:
        """An update as Telegram sends it for a message in a private chat with the bot."""
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"},
            **({"text": text} if text is not None else {}),
            **extra,
        }
        return {"message": message}

    def send_user_message(self, chat_id: int, text: str | None = None, **extra: Any) -> dict:
        return self._queue(self.user_message(chat_id, text, **extra))

    def send_user_edit(self, chat_id: int, text: str) -> dict:
        update = self.user_message(chat_id, text, edit_date=int(time.time()))
        return self._queue({"edited_message": update["message"]})

    def press_button(self, chat_id: int, data: str, message: dict | None = None) -> dict:
        message = message or {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
            "text": "",
        }
        return self._queue(
            {
                "callback_query": {
                    "id": str(next(self._ids)),
                    "from": {"id": chat_id, "is_bot": False, "first_name": "Pat"},
                    "chat_instance": "1",
                    "data": data,
                    "message": message,
                }
            }
        )

    def texts_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.sent if int(m.get("chat_id", 0)) == chat_id]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Poll until predicate() is truthy; return its value (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for the bot")

    def wait_for_text(self, chat_id: int, needle: str, start: int = 0, timeout: float = 60.0) -> list[str]:
        """Wait until a message to chat_id after index `start` contains `needle`; return them."""
        return self.wait_for(
            lambda: (lambda t: t if any(needle.lower() in x.lower() for x in t) else None)(
                self.texts_to(chat_id)[start:]
            ),
            timeout,
        )

    async def _payload(self, request: Request) -> dict:
        if request.headers.get("content-type", "").startswith("application/json"):
            return await request.json()
        form = await request.form()
        import json

        out: dict = {}
        for k, v in form.items():
            try:
                out[k] = json.loads(v)
            except (ValueError, TypeError):
                out[k] = v
        return out

    async def _handle(self, request: Request) -> JSONResponse:
        other = self._others.get(request.path_params["token"])
        if other is not None:
            return await other._handle(request)
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        method = request.path_params["method"]
        payload = await self._payload(request)
        with self._lock:
            self.calls.append((method, payload))
        if method == "getMe":
            return self._ok(self.bot_user)
        if method in ("setWebhook", "deleteWebhook"):
            with self._lock:
                self.webhook = dict(payload) if method == "setWebhook" else {}
            return self._ok(True)
        if method == "sendChatAction":
            return self._ok(True)
        if method == "editMessageReplyMarkup":
            return self._ok(self._message(payload, message_id=int(payload.get("message_id", 0))))
        if method == "sendMessage":
            with self._lock:
                if self.flood_left > 0:
                    self.flood_left -= 1
                    return JSONResponse(
                        {
                            "ok": False,
                            "error_code": 429,
                            "description": "Too Many Requests: retry after 1",
                            "parameters": {"retry_after": 1},
                        },
                        status_code=429,
                    )
            if self.on_send is not None:
                self.on_send(payload)
            message = self._message(payload)
            with self._lock:
                self.sent.append({**payload, "message": message})
            return self._ok(message)
        if method == "getUpdates":
            offset = int(payload.get("offset") or 0)
            # Long polling, as Telegram does: hold the request until updates arrive or time runs out.
            deadline = time.monotonic() + min(float(payload.get("timeout") or 0), 10.0)
            while True:
                with self._lock:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                    pending = list(self.updates)
                if pending or time.monotonic() >= deadline:
                    return self._ok(pending)
                await asyncio.sleep(0.05)
        if method == "answerCallbackQuery":
            return self._ok(True)
        if method == "editMessageText":
            return self._ok(self._message(payload, message_id=int(payload.get("message_id", 0))))
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)

    def _message(self, payload: dict, message_id: int | None = None) -> dict:
        chat_id = int(payload.get("chat_id", 0))
        chat = (
            {"id": chat_id, "type": "private", "first_name": "Pat"}
            if chat_id > 0
            else {"id": chat_id, "type": "group", "title": "On call"}
        )
        msg = {
            "message_id": message_id or next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": payload.get("text", ""),
        }
        if payload.get("reply_markup"):
            msg["reply_markup"] = payload["reply_markup"]
        return msg

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})
