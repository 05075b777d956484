"""deploy/systemd: the units systemd would load, checked by `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import SERVICE_NAMES
from bot.config import PROJECT_ROOT

UNITS = PROJECT_ROOT / "deploy" / "systemd"


def test_one_unit_per_process_each_restarting_with_a_crash_loop_limit():
    for name in SERVICE_NAMES:
        text = (UNITS / f"interlude-{name}.service").read_text()
        assert f"ExecStart=/opt/interlude/.venv/bin/interlude serve {name}\n" in text
        assert "Restart=always" in text and "StartLimitBurst=5" in text
        assert "Requires=interlude-prepare.service" in text
        assert f"interlude-{name}.service" in (UNITS / "interlude.target").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path):
    # Point the units at this checkout, so the ExecStart binary exists.
    python_bin = Path(sys.executable).parent
    for unit in UNITS.glob("interlude*"):
        if unit.suffix in (".service", ".target"):
            text = unit.read_text().replace("/opt/interlude/.venv/bin", str(python_bin))
            (tmp_path / unit.name).write_text(text.replace("/opt/interlude", str(PROJECT_ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in result.stderr.splitlines() if "interlude" in line]
    assert result.returncode == 0 and not problems, result.stderr
