"""`interlude chat`: talk to the running assistant as a patient, from a terminal.

It speaks to Rasa's `local` channel on 127.0.0.1 with Interlude's API token. Buttons are shown
as numbered choices; typing the number sends the button's payload.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO


class ChatError(Exception):
    pass


@dataclass
class ChatClient:
    rasa_url: str
    token: str
    sender: str
    timeout: float = 60.0
    last_buttons: list[dict] = field(default_factory=list)

    def send(self, text: str) -> list[dict]:
        """Send one message; return the bot's replies (Rasa's collecting-channel format)."""
        body = json.dumps({"sender": self.sender, "message": text}).encode()
        req = urllib.request.Request(  # noqa: S310 - loopback URL from our own settings
            f"{self.rasa_url}/webhooks/local/webhook",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                replies = json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode()).get("error", "")
            except (ValueError, AttributeError):
                detail = ""
            raise ChatError(f"The assistant refused the message ({exc.code}): {detail}") from None
        except (urllib.error.URLError, OSError):
            raise ChatError(f"Cannot reach Interlude at {self.rasa_url}; is `make run` running?") from None
        self.last_buttons = [b for r in replies for b in r.get("buttons", []) or []]
        return replies

    def fetch_outbox(self) -> list[dict]:
        """Messages sent to this patient proactively (for example by a clinician)."""
        req = urllib.request.Request(  # noqa: S310 - loopback URL from our own settings
            f"{self.rasa_url}/webhooks/local/outbox?sender={urllib.parse.quote(self.sender)}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                return json.loads(resp.read().decode())
        except (urllib.error.URLError, OSError, ValueError):
            return []

    def resolve(self, typed: str) -> str:
        """A number typed after buttons were shown means that button's payload."""
        s = typed.strip()
        if s.isdigit() and self.last_buttons:
            idx = int(s) - 1
            # Numeric buttons (a 0-10 scale) are sent as typed; others by position.
            titles = [str(b.get("title", "")) for b in self.last_buttons]
            if s in titles:
                return str(self.last_buttons[titles.index(s)]["payload"])
            if 0 <= idx < len(self.last_buttons):
                return str(self.last_buttons[idx]["payload"])
        return typed


def render(replies: list[dict]) -> str:
    lines = []
    for reply in replies:
        if reply.get("text"):
            lines.append(f"Interlude: {reply['text']}")
        buttons = reply.get("buttons") or []
        if buttons and all(str(b.get("title", "")).isdigit() for b in buttons):
            lines.append("   (type a number " + " ".join(str(b["title"]) for b in buttons) + ")")
        else:
            for i, b in enumerate(buttons, start=1):
                lines.append(f"   [{i}] {b.get('title')}")
    return "\n".join(lines)


def repl(client: ChatClient, stdin: IO[str] = sys.stdin, out: Callable[[str], None] = print) -> int:
    out("Connected. You are patient " + client.sender + ". Type a message; Ctrl-D or /quit to leave.")
    try:
        out(render(client.send("hi")))
    except ChatError as exc:
        out(f"Error: {exc}")
        return 1
    interactive = stdin.isatty()
    stop = threading.Event()
    if interactive:
        # Show proactive messages (a clinician who has joined) as they arrive.
        def poll() -> None:
            while not stop.wait(1.0):
                messages = client.fetch_outbox()
                if messages:
                    out("\n" + render(messages))

        threading.Thread(target=poll, name="outbox", daemon=True).start()
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        if text.strip() in ("/quit", "/exit"):
            break
        if not text.strip():
            continue
        try:
            out(render(client.send(client.resolve(text))))
        except ChatError as exc:
            out(f"Error: {exc}")
    stop.set()
    return 0
