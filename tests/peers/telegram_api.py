"""A Telegram Bot API look-alike on loopback: enough of the real API for python-telegram-bot.

It answers getMe, sendMessage, getUpdates (with queued updates), answerCallbackQuery and
editMessageText with the same JSON shapes Telegram returns, records every call, and can be
told to answer the next sendMessage calls with 429 (flood control) first.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.http import LoopbackServer

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Interlude Alerts", "username": "interlude_alerts_bot"}


class FakeTelegram(LoopbackServer):
    def __init__(self, token: str = "123456:TEST-TOKEN", on_send: Any = None) -> None:
        self.token = token
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []
        self.updates: list[dict] = []
        self.flood_left = 0
        self.on_send = on_send  # called with each sendMessage payload before it is recorded
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._lock = threading.Lock()
        super().__init__(
            Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])])
        )

    @property
    def api_url(self) -> str:
        return self.url

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
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        method = request.path_params["method"]
        payload = await self._payload(request)
        with self._lock:
            self.calls.append((method, payload))
        if method == "getMe":
            return self._ok(BOT_USER)
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
            with self._lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                return self._ok(list(self.updates))
        if method == "answerCallbackQuery":
            return self._ok(True)
        if method == "editMessageText":
            return self._ok(self._message(payload, message_id=int(payload.get("message_id", 0))))
        return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)

    def _message(self, payload: dict, message_id: int | None = None) -> dict:
        msg = {
            "message_id": message_id or next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(payload.get("chat_id", 0)), "type": "group", "title": "On call"},
            "from": BOT_USER,
            "text": payload.get("text", ""),
        }
        if payload.get("reply_markup"):
            msg["reply_markup"] = payload["reply_markup"]
        return msg

    @staticmethod
    def _ok(result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})
