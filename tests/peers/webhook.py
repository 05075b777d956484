"""A webhook receiver on loopback that records requests and can fail the first N."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.http import LoopbackServer


class WebhookReceiver(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.fail_next = 0
        super().__init__(Starlette(routes=[Route("/hook", self._handle, methods=["POST"])]))

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    async def _handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "try later"}, status_code=503)
        self.requests.append((dict(request.headers), body))
        return JSONResponse({"ok": True})
