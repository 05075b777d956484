"""Reading back recent entries decrypts only the check-ins it shows (SQLite and PostgreSQL)."""

from __future__ import annotations


def test_last_checkins_reads_and_decrypts_only_those(store, clinic):
    _, _, ref = clinic
    for day in range(12):
        store.checkins.record_checkin(
            ref, "daily", [("mood", None, float(day % 10)), ("note", f"day {day}", None)]
        )
    store.checkins.record_checkin(ref, "daily", [("note", "the newest", None)])

    decrypted = []
    original = store.vault.decrypt

    def counting(patient, token):  # type: ignore[no-untyped-def]
        decrypted.append(token)
        return original(patient, token)

    store.vault.decrypt = counting
    recent = store.checkins.list_answers(ref, actor="t", origin="t", last_checkins=3)
    assert [a.text for a in recent if a.text] == ["day 10", "day 11", "the newest"]
    assert len({a.checkin_id for a in recent}) == 3
    assert len(decrypted) == len(recent) == 5

    # Without the limit, everything, as before.
    assert len(store.checkins.list_answers(ref, actor="t", origin="t")) == 25
    assert store.checkins.list_answers(ref, actor="t", origin="t", last_checkins=0) == []
