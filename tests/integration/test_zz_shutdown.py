"""Runs last in this package (file order): stops the shared stack and checks what it left."""

from __future__ import annotations

import pytest

from tests.integration.test_conversation import CANARY, RISK_TEXT

pytestmark = pytest.mark.integration


def test_logs_hold_no_patient_text_and_ctrl_c_stops_cleanly(stack):
    code = stack.stop()
    assert code == 0
    console = stack.console.read_text(encoding="utf-8")
    log = (stack.settings.data_dir / "logs" / "interlude.log").read_text(encoding="utf-8")
    assert console.rstrip().endswith("Stopped.")
    for text in (console, log):
        assert CANARY not in text and RISK_TEXT not in text and "better off without me" not in text
        assert "kms" not in text.split()
