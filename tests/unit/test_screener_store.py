"""Screener runs kept with their flag (SQLite and PostgreSQL): encrypted, raised never lowered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.flags.store import SignalInput
from bot.store.db import transaction
from bot.store.models import RiskSignal, ScreenerRun


def _signal(severity: str, **kw) -> SignalInput:
    return SignalInput(severity=severity, categories=["suicide"], rules=[{"rule": "t"}], **kw)


def test_a_run_is_stored_encrypted_with_its_flag(store, clinic):
    _, _, ref = clinic
    flag = store.flags.record_risk(
        ref, message_id="m1", text="I keep wishing I was dead", signal=_signal("moderate")
    )
    run = store.screeners.start_screener(ref, flag_id=flag.flag_id, trigger="moderate")
    store.screeners.save_screener(
        ref, run, {"q1": "yes", "q2": "declined"}, status="declined", result="moderate"
    )
    runs = store.screeners.screeners_for_flag(flag.flag_id)
    assert [(r["status"], r["result"], r["answers"]) for r in runs] == [
        ("declined", "moderate", {"q1": "yes", "q2": "declined"})
    ]
    with transaction(store.core.factory) as s:
        raw = s.execute(select(ScreenerRun.answers_enc)).scalar_one()
    # The plaintext is JSON, so its key is quoted; a quote never occurs in a Fernet token (base64),
    # whereas a bare "q1" does by chance in about one token in thirty.
    assert b"declined" not in bytes(raw) and b'"q1"' not in bytes(raw)
    assert any(e["action"] == "screener.finish" for e in store.core.audit_events(patient_ref=ref))


def test_the_level_of_recent_runs_decides_whether_to_ask_again(store, clinic):
    _, _, ref = clinic
    now = store.core.now()
    assert store.screeners.recent_screener_level(ref, now - timedelta(hours=24)) is None
    flag = store.flags.record_risk(ref, message_id="m1", text=None, signal=_signal("moderate"))
    run = store.screeners.start_screener(ref, flag_id=flag.flag_id, trigger="moderate")
    assert store.screeners.recent_screener_level(ref, now - timedelta(hours=24)) == "moderate"
    store.screeners.save_screener(
        ref, run, {"q1": "yes", "q2": "yes", "q3": "yes"}, status="in_progress", result="high"
    )
    assert store.screeners.recent_screener_level(ref, now - timedelta(hours=24)) == "high"
    assert store.screeners.recent_screener_level(ref, now + timedelta(seconds=1)) is None


def test_a_raise_from_the_screener_realerts_and_the_signal_names_the_earlier_message(store, clinic):
    _, _, ref = clinic
    first = store.flags.record_risk(
        ref, message_id="m1", text="x", signal=_signal("moderate"), alert_channels=["email"]
    )
    raised = store.flags.record_risk(
        ref,
        message_id="m3",
        text="y",
        signal=_signal("critical", source="message", context_message_id="m1"),
        alert_channels=["email"],
    )
    assert raised.flag_id == first.flag_id and raised.escalated and raised.severity == "critical"
    lower = store.flags.record_risk(
        ref, message_id=None, text=None, signal=_signal("moderate", source="screener")
    )
    assert lower.severity == "critical" and not lower.escalated  # never lowered
    with transaction(store.core.factory) as s:
        linked = s.execute(select(RiskSignal.context_message_id).order_by(RiskSignal.id)).scalars().all()
    assert linked == [None, "m1", None]


def test_the_flag_page_data_and_the_session_prep_pdf_show_the_screener(store, clinic):
    import io

    from pypdf import PdfReader

    from bot.exports import prep_pdf
    from bot.prompts.sets import default_catalogue

    _, staff_id, ref = clinic
    first = store.flags.record_risk(
        ref, message_id="m1", text="I keep wishing I was dead", signal=_signal("moderate")
    )
    store.flags.record_risk(
        ref,
        message_id="m3",
        text="I've decided to do it on friday",
        signal=_signal("critical", context_message_id="m1"),
    )
    declined = store.screeners.start_screener(ref, flag_id=first.flag_id, trigger="moderate")
    store.screeners.save_screener(ref, declined, {"q1": "declined"}, status="declined", result="none")
    done = store.screeners.start_screener(ref, flag_id=first.flag_id, trigger="critical")
    store.screeners.save_screener(
        ref,
        done,
        {"q1": "yes", "q2": "yes", "q3": "yes", "q4": "no", "q5": "no", "q6": "no"},
        status="completed",
        result="high",
    )
    detail = store.portal.flag_detail(staff_id, first.flag_id)
    assert [r["status"] for r in detail.screeners] == ["declined", "completed"]
    assert detail.screeners[0]["items"][0][2] == "declined"
    assert "wished you were dead" in detail.screeners[0]["items"][0][1]
    assert detail.signals[1]["built_on"] == "m1" and detail.signals[1]["built_on_index"] == 1

    prep = store.patient_views.session_prep_for(staff_id, ref)
    pdf = prep_pdf.render(prep, lambda s, k: default_catalogue().question(s, k))
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "C-SSRS screener: declined" in text and "Q1 declined" in text
    assert "C-SSRS screener: completed, triage high" in text and "Q3 yes" in text


def test_the_patient_export_carries_the_screener(store, clinic):
    _, _, ref = clinic
    flag = store.flags.record_risk(ref, message_id="m1", text=None, signal=_signal("moderate"))
    run = store.screeners.start_screener(ref, flag_id=flag.flag_id, trigger="moderate")
    store.screeners.save_screener(
        ref, run, {"q1": "no", "q2": "no", "q6": "no"}, status="completed", result="none"
    )
    exported = store.rights.export_patient(ref, actor="test", origin="test")
    (screener,) = exported["risk_flags"][0]["screeners"]
    assert screener["status"] == "completed" and screener["answers"] == {"q1": "no", "q2": "no", "q6": "no"}
    assert isinstance(screener["started_at"], str)
