"""With the action server down, a risky message still gets crisis resources at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import prepare
from bot.chat import ChatClient
from bot.config import PROJECT_ROOT, load_settings
from bot.supervisor import url_ready
from tests.integration.stack import TEST_CONFIG, stack_env

pytestmark = pytest.mark.integration


def test_crisis_resources_without_the_action_server(tmp_path: Path):
    # Nothing listens on INTERLUDE_ACTIONS_PORT. The token starts with "-" on purpose: it once
    # made Rasa's argument parser fail at start (about 1 generated token in 64).
    env = stack_env(tmp_path / "data", INTERLUDE_API_TOKEN="-starts-with-a-dash-0123456789")
    settings = load_settings(env, cwd=PROJECT_ROOT)
    prepared = prepare(settings, config=PROJECT_ROOT / TEST_CONFIG, log=lambda _m: None)
    log = open(tmp_path / "rasa.log", "w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.rasa_ext.serve", "rasa"],
        cwd=PROJECT_ROOT,
        env={
            **env,
            **settings.child_env(),
            "INTERLUDE_MODEL_PATH": str(prepared.model),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        status = f"{settings.rasa_url}/status?token={settings.api_token}"
        while not url_ready(status):
            assert proc.poll() is None, (tmp_path / "rasa.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Rasa did not start"
            time.sleep(1)
        client = ChatClient(settings.rasa_url, settings.api_token, prepared.demo.patient_ref)
        replies = client.send("I want to kill myself")
        text = "\n".join(r.get("text", "") for r in replies)
        assert "part of this service isn't working" in text
        assert "988" in text and "116 123" in text and "13 11 14" in text
        assert len(replies) == 1  # the static crisis reply, and nothing ordinary
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
