"""A look-alike of Rasa's trigger_intent endpoint on loopback: records every call (who, what,
which output channel, with which token) and can be told to fail the next calls with 500."""

from __future__ import annotations

import threading

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.http import LoopbackServer


class FakeRasa(LoopbackServer):
    def __init__(self, token: str = "rasa-token-0123456789") -> None:
        self.token = token
        self.calls: list[dict] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        super().__init__(
            Starlette(routes=[Route("/conversations/{cid}/trigger_intent", self._trigger, methods=["POST"])])
        )

    async def _trigger(self, request: Request) -> JSONResponse:
        if request.query_params.get("token") != self.token:
            return JSONResponse({"message": "unauthorized"}, status_code=401)
        body = await request.json()
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"message": "boom"}, status_code=500)
            self.calls.append(
                {
                    "conversation": request.path_params["cid"],
                    "intent": body["name"],
                    "entities": body.get("entities") or {},
                    "output_channel": request.query_params.get("output_channel"),
                }
            )
        return JSONResponse({"tracker": {}, "messages": []})

    def sent(self, intent: str = "EXTERNAL_checkin_due") -> list[tuple[str, str]]:
        with self._lock:
            return [
                (c["conversation"], c["entities"].get("prompt_set"))
                for c in self.calls
                if c["intent"] == intent
            ]
