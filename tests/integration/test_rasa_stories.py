"""`rasa test` on the test stories: every story must pass with the test model."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.training import ensure_model, rasa_executable

pytestmark = pytest.mark.integration


def test_all_test_stories_pass(tmp_path: Path):
    model = ensure_model(PROJECT_ROOT / "tests" / "config.test.yml", log=lambda _m: None)
    rasa = rasa_executable()
    res = subprocess.run(
        [
            rasa,
            "test",
            "core",
            "--stories",
            "tests/test_stories.yml",
            "--model",
            str(model),
            "--out",
            str(tmp_path),
            "--fail-on-prediction-errors",
            "--no-plot",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
    )
    failed = tmp_path / "failed_test_stories.yml"
    assert res.returncode == 0, (failed.read_text() if failed.exists() else "") + res.stdout[-3000:]
