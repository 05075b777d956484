"""Web chat messages between Rasa replicas (`interlude run --replicas N`).

A patient's socket lives in the replica that opened it, but a message for that patient may be
produced by another: a check-in or a clinician's words (the scheduler and the portal call one
replica), or a reply to a message the patient sent from another tab. Each replica sends to
the sockets it holds, and publishes the message on a Redis channel; every other replica
delivers it to the patient's sockets it holds, checking their tokens first exactly as for its
own replies (webchat.py, live_sockets). The payload is encrypted with the patient's data key,
so no patient words pass through Redis in the clear.

Why not python-socketio's Redis manager: it emits to a room's sockets in every process without
the per-socket token check made before each reply, and a polling socket must still reach its
own process for every request (the web app keeps it there), so it would not replace that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot import runtime

logger = logging.getLogger(__name__)

CHANNEL_SUFFIX = ":webchat"


class Relay:
    def __init__(
        self, redis_url: str, prefix: str, deliver: Callable[[str, dict[str, Any]], Awaitable[None]]
    ) -> None:
        import redis.asyncio as redis_asyncio

        self.redis = redis_asyncio.Redis.from_url(redis_url, socket_connect_timeout=3)
        self.channel = prefix + CHANNEL_SUFFIX
        self.origin = uuid.uuid4().hex  # this replica: its own messages are not delivered twice
        self.deliver = deliver

    async def publish(self, ref: str, payload: dict[str, Any]) -> None:
        sealed = await asyncio.to_thread(runtime.store().vault.encrypt_conversation, ref, json.dumps(payload))
        await self.redis.publish(
            self.channel, json.dumps({"origin": self.origin, "ref": ref, "payload": sealed})
        )

    async def _receive(self, raw: bytes) -> None:
        note = json.loads(raw)
        if note.get("origin") == self.origin:
            return
        ref = note["ref"]
        payload = json.loads(
            await asyncio.to_thread(runtime.store().vault.decrypt_conversation, ref, note["payload"])
        )
        await self.deliver(ref, payload)

    async def listen_forever(self) -> None:
        """Deliver what other replicas publish; reconnect after Redis goes away."""
        delay = 1.0
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    delay = 1.0
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            await self._receive(message["data"])
                        except Exception as exc:  # one bad message never stops the relay
                            logger.warning(
                                "webchat relay: a message was not delivered (%s)", type(exc).__name__
                            )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("webchat relay: Redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
