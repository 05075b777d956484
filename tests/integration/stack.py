"""Start the real `interlude run` (or parts of it) on free ports, and talk to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.chat import ChatClient
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.supervisor import free_ports

TEST_CONFIG = "tests/config.test.yml"


def stack_env(data_dir: Path, **extra: str) -> dict[str, str]:
    http, rasa, actions = free_ports(3)
    return {
        **os.environ,
        "INTERLUDE_DATA_DIR": str(data_dir),
        "INTERLUDE_HTTP_PORT": str(http),
        "INTERLUDE_RASA_PORT": str(rasa),
        "INTERLUDE_ACTIONS_PORT": str(actions),
        "NO_COLOR": "1",
        **extra,
    }


@dataclass
class Stack:
    proc: subprocess.Popen
    settings: Settings
    env: dict[str, str]
    console: Path

    def client(self, patient_ref: str) -> ChatClient:
        return ChatClient(self.settings.rasa_url, self.settings.api_token, patient_ref, timeout=60)

    def say(self, patient_ref: str, *texts: str) -> str:
        """Send each text in turn; return the bot's replies to the last one, joined."""
        client = self.client(patient_ref)
        replies: list[dict] = []
        for text in texts:
            replies = client.send(text)
        return "\n".join(r.get("text", "") for r in replies)

    def cli(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the `interlude` command against this stack's settings."""
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *argv],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=90)


def start_stack(
    data_dir: Path, console: Path, timeout: float = 420.0, args: Sequence[str] = (), **extra_env: str
) -> Stack:
    """`interlude run` (with `args`, e.g. --replicas 2) on free ports; returns once it is ready."""
    env = stack_env(data_dir, **extra_env)
    out = open(console, "w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--config", TEST_CONFIG, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = console.read_text(encoding="utf-8", errors="replace")
        if "Interlude is ready" in text:
            return Stack(proc, load_settings(env, cwd=PROJECT_ROOT), env, console)
        if proc.poll() is not None:
            raise RuntimeError(f"interlude run exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(1)
    proc.kill()
    raise RuntimeError("interlude run did not become ready:\n" + console.read_text()[-4000:])
