"""Screener runs kept with their flag (SQLite and PostgreSQL): encrypted, raised never lowered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.store.api import SignalInput
from bot.store.db import transaction
from bot.store.models import RiskSignal, ScreenerRun


def _signal(severity: str, **kw) -> SignalInput:
    return SignalInput(severity=severity, categories=["suicide"], rules=[{"rule": "t"}], **kw)


def test_a_run_is_stored_encrypted_with_its_flag(store, clinic):
    _, _, ref = clinic
    flag = store.record_risk(
        ref, message_id="m1", text="I keep wishing I was dead", signal=_signal("moderate")
    )
    run = store.start_screener(ref, flag_id=flag.flag_id, trigger="moderate")
    store.save_screener(ref, run, {"q1": "yes", "q2": "declined"}, status="declined", result="moderate")
    runs = store.screeners_for_flag(flag.flag_id)
    assert [(r["status"], r["result"], r["answers"]) for r in runs] == [
        ("declined", "moderate", {"q1": "yes", "q2": "declined"})
    ]
    with transaction(store._factory) as s:
        raw = s.execute(select(ScreenerRun.answers_enc)).scalar_one()
    assert b"declined" not in bytes(raw) and b"q1" not in bytes(raw)
    assert any(e["action"] == "screener.finish" for e in store.audit_events(patient_ref=ref))


def test_the_level_of_recent_runs_decides_whether_to_ask_again(store, clinic):
    _, _, ref = clinic
    now = store.now()
    assert store.recent_screener_level(ref, now - timedelta(hours=24)) is None
    flag = store.record_risk(ref, message_id="m1", text=None, signal=_signal("moderate"))
    run = store.start_screener(ref, flag_id=flag.flag_id, trigger="moderate")
    assert store.recent_screener_level(ref, now - timedelta(hours=24)) == "moderate"
    store.save_screener(
        ref, run, {"q1": "yes", "q2": "yes", "q3": "yes"}, status="in_progress", result="high"
    )
    assert store.recent_screener_level(ref, now - timedelta(hours=24)) == "high"
    assert store.recent_screener_level(ref, now + timedelta(seconds=1)) is None


def test_a_raise_from_the_screener_realerts_and_the_signal_names_the_earlier_message(store, clinic):
    _, _, ref = clinic
    first = store.record_risk(
        ref, message_id="m1", text="x", signal=_signal("moderate"), alert_channels=["email"]
    )
    raised = store.record_risk(
        ref,
        message_id="m3",
        text="y",
        signal=_signal("critical", source="message", context_message_id="m1"),
        alert_channels=["email"],
    )
    assert raised.flag_id == first.flag_id and raised.escalated and raised.severity == "critical"
    lower = store.record_risk(ref, message_id=None, text=None, signal=_signal("moderate", source="screener"))
    assert lower.severity == "critical" and not lower.escalated  # never lowered
    with transaction(store._factory) as s:
        linked = s.execute(select(RiskSignal.context_message_id).order_by(RiskSignal.id)).scalars().all()
    assert linked == [None, "m1", None]
