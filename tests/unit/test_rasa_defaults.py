"""Rasa's own commands work in the project root with their defaults: data/ holds only training
data (clinic content lives in clinic/), so `rasa data validate` reads nothing else."""

from __future__ import annotations

import subprocess

import pytest

from bot.config import CLINIC_DIR, PROJECT_ROOT
from bot.training import rasa_executable


def test_data_holds_only_training_data() -> None:
    assert sorted(p.name for p in (PROJECT_ROOT / "data").iterdir()) == ["nlu", "rules", "stories"]
    for name in ("prompts", "safety", "consent.yml", "channels.yml", "schedule.yml"):
        assert (CLINIC_DIR / name).exists(), name


@pytest.mark.integration
def test_rasa_data_validate_with_its_defaults() -> None:
    proc = subprocess.run(
        [rasa_executable(), "data", "validate"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
