"""What a clinician reads, without a browser: answers in words with their questions and scores,
PHQ-9 item 9 marked, the Trends time axis and point placement, the transcript's day paging, and
the same facts from the store (SQLite and PostgreSQL) and in the session-prep PDF."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from bot.exports import prep_pdf
from bot.flags.store import SignalInput
from bot.prompts.instruments import score
from bot.prompts.readable import answer_views, instrument_items, item9_above_zero, item9_answer
from bot.prompts.sets import default_catalogue
from bot.runtime import Store
from bot.store import migrate
from bot.web.portal.charts import PHQ9_BANDS, Series, chart, spread, time_axis
from bot.web.portal.paging import transcript_page

CAT = default_catalogue()
PHQ9_ITEMS = [2, 2, 1, 1, 0, 0, 1, 0, 2]  # item 9: "More than half the days"


# ---------------------------------------------------------------- answers in words


def test_a_phq9_reads_as_questions_answer_words_and_scores_with_item9_marked():
    rows = instrument_items(CAT, "phq9", PHQ9_ITEMS)
    assert [r.question for r in rows][:2] == [
        "Little interest or pleasure in doing things",
        "Feeling down, depressed, or hopeless",
    ]
    assert rows[0].answer == "More than half the days" and rows[0].score == 2
    assert rows[4].answer == "Not at all" and rows[6].answer == "Several days"
    assert rows[8].question.startswith("Thoughts that you would be better off dead")
    assert [r.risk for r in rows] == [False] * 8 + [True]
    assert not any(r.risk for r in instrument_items(CAT, "phq9", [3] * 8 + [0]))
    assert item9_above_zero("phq9", PHQ9_ITEMS) == 2 and item9_above_zero("phq9", [1] * 8 + [0]) is None
    assert item9_above_zero("gad7", [3] * 7) is None
    assert item9_answer(CAT, 3) == "Nearly every day"
    gad = instrument_items(CAT, "gad7", [1] * 7)
    assert gad[0].question == "Feeling nervous, anxious, or on edge" and gad[0].answer == "Several days"


def test_a_daily_check_in_reads_in_words_and_sets_by_their_titles():
    rows = answer_views(
        CAT,
        "daily",
        [
            {"key": "mood", "value": 6.0, "text": None},
            {"key": "anxiety", "value": 8.0, "text": None},
            {"key": "anxiety_about", "value": None, "text": "work deadline"},
            {"key": "sleep_hours", "value": 5.5, "text": None},
            {"key": "note", "value": None, "text": None},
        ],
    )
    assert rows[0].question.startswith("How is your mood today") and rows[0].answer == "6 of 10"
    assert rows[2].question.startswith("That sounds like a lot") and rows[2].answer == "work deadline"
    assert rows[3].answer == "5.5" and rows[4].skipped and rows[4].answer == "skipped"
    assert all(r.score is None for r in rows)  # no scores column for an unscored set
    assert CAT.title("daily") == "Daily check-in" and CAT.title("phq9") == "PHQ-9"
    assert CAT.title("retired_set") == "retired set"  # a set removed since: said, not an error
    assert answer_views(CAT, "retired_set", [{"key": "x_y", "value": 3.0}])[0].question == "x y"


# ---------------------------------------------------------------- trends


def test_the_time_axis_spans_at_least_a_week_of_whole_days_in_the_patients_zone():
    one_day = [datetime(2026, 3, 10, 9, tzinfo=UTC), datetime(2026, 3, 10, 9, 5, tzinfo=UTC)]
    axis = time_axis(one_day, "Europe/Berlin")
    assert axis.end - axis.start == timedelta(days=7)
    assert axis.end.date() == date(2026, 3, 11) and axis.end.hour == 0  # after the last day
    assert str(axis.end.tzinfo) == "Europe/Berlin"
    assert [label for _, label in axis.ticks] == ["4 Mar", "5", "6", "7", "8", "9", "10"]
    # Late evening in UTC is already the next day in Tokyo.
    assert time_axis([datetime(2026, 3, 10, 20, tzinfo=UTC)], "Asia/Tokyo").end.date() == date(2026, 3, 12)
    months = time_axis([datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC)])
    assert all(t.weekday() == 0 for t, _ in months.ticks) and len(months.ticks) >= 6
    year = time_axis([datetime(2025, 3, 5, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC)])
    assert all(t.day == 1 for t, _ in year.ticks) and "1 Apr" in [label for _, label in year.ticks]


def test_two_answers_on_one_day_are_two_points_not_a_vertical_line():
    assert spread([10.0, 10.0, 10.2]) == pytest.approx([10.0, 11.6, 13.2])
    assert spread([96.9, 97.0]) == pytest.approx([95.4, 97.0])  # crowded at the right edge: moved left
    at = datetime(2026, 3, 10, 9, tzinfo=UTC)
    svg = chart(
        Series("PHQ-9 total", [(at, 9), (at + timedelta(minutes=3), 14)], 27, PHQ9_BANDS, (1,), "item 9"),
        [at + timedelta(days=2)],
        "p",
    )
    xs = re.findall(r'<circle cx="([\d.]+)%" cy="[\d.]+" r="4"', svg)
    assert len(xs) == 2 and float(xs[1]) - float(xs[0]) >= 1.5
    line = re.search(r'<line x1="([\d.]+)%" y1="[\d.]+" x2="([\d.]+)%" y2="[\d.]+" class="line"/>', svg)
    assert line and line.group(1) != line.group(2)
    assert 'width="100%"' in svg and "viewBox" not in svg  # as wide as its card
    assert svg.count('class="mark-ring"') == 1 and "marked: item 9" in svg
    assert ">dose</text>" in svg


# ---------------------------------------------------------------- transcript paging


def _msg(at: datetime, mid: str) -> dict:
    return {"at": at, "from": "patient", "text": mid, "id": mid}


def test_the_transcript_pages_by_day_newest_first_and_opens_on_a_flagged_message():
    day1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    msgs = [_msg(day1, "a"), _msg(day1 + timedelta(hours=1), "b"), _msg(day1 + timedelta(days=2), "c")]
    msgs.append(_msg(day1 + timedelta(days=2, hours=13, minutes=30), "d"))  # 23:30 UTC
    newest = transcript_page(msgs, "UTC")
    assert newest.day == date(2026, 3, 3) and [m["id"] for m in newest.messages] == ["c", "d"]
    assert newest.days == [date(2026, 3, 3), date(2026, 3, 1)] and newest.newer is None
    assert newest.older == date(2026, 3, 1)
    first = transcript_page(msgs, "UTC", day=date(2026, 3, 1))
    assert [m["id"] for m in first.messages] == ["a", "b"] and first.newer == date(2026, 3, 3)
    assert transcript_page(msgs, "UTC", message_id="b").day == date(2026, 3, 1)
    assert transcript_page(msgs, "UTC", day=date(2020, 1, 1)).day == date(2026, 3, 3)  # no such day
    assert transcript_page(msgs, "UTC", message_id="zz").day == date(2026, 3, 3)
    # Days are the patient's: 23:30 UTC is the next morning in Berlin.
    berlin = transcript_page(msgs, "Europe/Berlin")
    assert berlin.day == date(2026, 3, 4) and [m["id"] for m in berlin.messages] == ["d"]
    assert transcript_page([], "UTC").day is None


# ---------------------------------------------------------------- from the store, and the PDF


class Clock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def world(database_url, data_dir):
    migrate.upgrade(database_url)
    clock = Clock(datetime(2026, 3, 1, 15, 0, tzinfo=UTC))
    store = Store.open(database_url, data_dir, environ={}, clock=clock)
    clinic = store.staff.ensure_clinic("c", "Clinic")
    staff, _ = store.staff.ensure_staff(clinic, "a@example.invalid", "Dr A", "therapist", None)
    ref = store.patients.create_patient(
        clinic_id=clinic, therapist_id=staff, display_name="Ida Synthetic"
    ).ref
    yield store, clock, staff, ref
    store.core.close()


def test_the_store_gives_item_answers_to_the_flag_page_trends_and_the_pdf(world):
    store, clock, staff, ref = world
    total, band = score("phq9", PHQ9_ITEMS)
    checkin = store.checkins.record_checkin(
        ref,
        "phq9",
        [(f"item{i}", None, float(v)) for i, v in enumerate(PHQ9_ITEMS, 1)],
        instrument=("phq9", PHQ9_ITEMS, total, band),
    )
    clock.at += timedelta(seconds=2)
    flag = store.flags.record_risk(
        ref,
        message_id=None,
        text=None,
        signal=SignalInput("high", ["suicide"], [{"rule": "phq9.item9"}], source="phq9_item9"),
    ).flag_id
    overview = store.patient_views.patient_overview(staff, ref)
    assert overview["scores"][0]["items"] == PHQ9_ITEMS and overview["scores"][0]["checkin_id"] == checkin
    signal = store.portal.flag_detail(staff, flag).signals[0]
    assert signal["instrument"]["items"] == PHQ9_ITEMS and signal["instrument"]["total"] == total
    assert store.patient_views.trends_for(staff, ref)["phq9"][0][3] == PHQ9_ITEMS
    prep = store.patient_views.session_prep_for(staff, ref)
    assert prep["scores"]["phq9"][0]["items"] == PHQ9_ITEMS
    text = PdfReader(io.BytesIO(prep_pdf.render(prep, CAT.question))).pages[0].extract_text()
    assert "ITEM 9 ABOVE 0" in text and "More than half the days (2)" in text
    assert "better off dead" in text


def test_the_pdf_has_no_item9_mark_when_item9_is_0(world):
    store, _, staff, ref = world
    items = [2] * 8 + [0]
    total, band = score("phq9", items)
    store.checkins.record_checkin(ref, "phq9", [], instrument=("phq9", items, total, band))
    prep = store.patient_views.session_prep_for(staff, ref)
    text = PdfReader(io.BytesIO(prep_pdf.render(prep, CAT.question))).pages[0].extract_text()
    assert "PHQ-9" in text and "ITEM 9" not in text
