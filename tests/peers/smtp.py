"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import email
import threading
from email.message import Message

from aiosmtpd.controller import Controller

from bot.supervisor import free_port


class Inbox:
    def __init__(self, stall: threading.Event | None = None) -> None:
        self.messages: list[Message] = []
        self.stall = stall  # while set, DATA is not accepted (a server that hangs mid-delivery)
        self.data_started = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        self.data_started.set()
        while self.stall is not None and self.stall.is_set():
            await asyncio.sleep(0.05)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, inbox: Inbox | None = None) -> None:
        self.inbox = inbox or Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
