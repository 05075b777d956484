"""Processes that never train or run DIET/TED do not load TensorFlow (about 550 MB each)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.config import PROJECT_ROOT, load_settings
from bot.store import migrate
from bot.supervisor import free_port


def test_the_action_server_runs_without_tensorflow(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "INTERLUDE_DATA_DIR": str(tmp_path), "INTERLUDE_ACTIONS_PORT": str(port)}
    migrate.upgrade(load_settings(env, cwd=PROJECT_ROOT).database_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.rasa_ext.serve", "actions"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the action server did not start"
                time.sleep(0.5)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "tensorflow" not in maps
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_safety_detector_works_with_tensorflow_blocked():
    code = (
        "import sys\n"
        "from bot.runtime import block_tensorflow\n"
        "block_tensorflow()\n"
        "from bot.safety.service import default_detector\n"
        "print(default_detector().assess('I want to kill myself').severity)\n"
        "print(sys.modules.get('tensorflow') is None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[-2] in ("high", "critical") and out[-1] == "True"
