"""A socket.io server that refuses malformed traffic with a 400, before python-engineio sees it.

python-engineio 4.5 answers a long-polling POST without `sid` with a 500 (it builds its error
message from None), and logs a full traceback for a body that is not valid UTF-8 or not a valid
packet payload. Both are trivially sent by anyone who can reach /socket.io/. Here each POST
is checked first: a known session, a UTF-8 body, a decodable Engine.IO payload whose message
packets are decodable Socket.IO packets. Anything else gets a short 400 and one log line
(without the body: it may hold patient words).
"""

from __future__ import annotations

import inspect
import logging
import urllib.parse
from typing import Any

import engineio
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from socketio import AsyncServer
from socketio import packet as sio_packet

logger = logging.getLogger(__name__)


def problem_with(method: str, query: str, body: bytes, sessions: Any) -> str | None:
    """Why this request is malformed, or None if engineio may handle it."""
    if method != "POST":
        return None
    params = urllib.parse.parse_qs(query)
    sid = (params.get("sid") or [None])[0]
    if sid is None:
        return "a POST needs a session id"
    if sid not in sessions:
        return "unknown session"
    try:
        text = body.decode("utf-8")
        decoded = eio_payload.Payload(encoded_payload=text)
        for pkt in decoded.packets:
            if pkt.packet_type == eio_packet.MESSAGE and isinstance(pkt.data, str):
                inner = sio_packet.Packet(encoded_packet=pkt.data)
                if inner.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
                    isinstance(inner.data, list) and inner.data and isinstance(inner.data[0], str)
                ):
                    return "an event without a name"
    except Exception as exc:  # any decoding error: the payload is malformed
        return f"malformed payload ({type(exc).__name__})"
    return None


class GuardedEngineIO(engineio.AsyncServer):
    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        request = args[0] if args else None
        method = getattr(request, "method", "")
        if method == "POST":
            query = urllib.parse.urlsplit(request.url).query
            why = problem_with(method, query, bytes(request.body or b""), self.sockets)
            if why is not None:
                logger.warning("socket.io: refused a malformed request (%s)", why)
                environ = self._async["translate_request"](*args, **kwargs)
                if inspect.isawaitable(environ):
                    environ = await environ
                return await self._make_response(self._bad_request(why), environ)
        return await super().handle_request(*args, **kwargs)


class GuardedAsyncServer(AsyncServer):
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return GuardedEngineIO
