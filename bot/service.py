"""What Interlude's long-running workers share: tick until told to stop, and stop cleanly on
SIGINT/SIGTERM (the supervisor's Ctrl-C)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any


async def run_every(
    tick: Callable[[], Awaitable[Any]], stop: asyncio.Event, interval: float, logger: logging.Logger
) -> None:
    """Call `tick` every `interval` seconds until `stop` is set. A failing tick (the database
    briefly away, say) is logged by its error class and the loop goes on."""
    while not stop.is_set():
        try:
            await tick()
        except Exception as exc:
            logger.error("tick failed (%s)", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


def serve(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` in a fresh event loop; SIGINT and SIGTERM set `stop`."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(wrapper())
