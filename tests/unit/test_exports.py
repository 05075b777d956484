"""The portal's exports: the one-page session-prep PDF and PHQ-9/GAD-7 as FHIR R4.

The PDF is read back with pypdf; the FHIR Bundle is validated against the FHIR R4 (4.0.1)
structure definitions as generated into fhir.resources 6.4's models.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from bot.exports import fhir, prep_pdf
from bot.flags.store import SignalInput
from bot.prompts.instruments import score
from bot.prompts.sets import default_catalogue
from bot.runtime import Store
from bot.schedule.plan import default_plan
from bot.store import migrate
from bot.store.errors import NotFound


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
    mine, _ = store.staff.ensure_staff(clinic, "a@example.invalid", "Dr A", "therapist", None)
    other, _ = store.staff.ensure_staff(clinic, "b@example.invalid", "Dr B", "therapist", None)
    ref = store.patients.create_patient(
        clinic_id=clinic, therapist_id=mine, display_name="Zoë Synthetic", timezone="Europe/Berlin"
    ).ref
    yield store, clock, mine, other, ref
    store.core.close()


def _question(prompt_set: str, key: str) -> str:
    return default_catalogue().question(prompt_set, key)


def _seed(store, clock, ref, *, entries: int = 3, note: str | None = None):
    def instrument(name, items):
        total, band = score(name, items)
        return (name, items, total, band)

    store.checkins.record_checkin(ref, "phq9", [], instrument=instrument("phq9", [2, 2, 2, 2, 2, 1, 1, 1, 0]))
    store.schedule.add_dosing_session(
        ref, clock.at + timedelta(days=1), "sublingual", plan=default_plan(), actor="t", origin="t"
    )
    clock.at += timedelta(days=2)
    if note:  # a note to the therapist, older than every entry below
        store.checkins.record_checkin(ref, "therapist_note", [("note", note, None)])
    for day in range(entries):
        clock.at += timedelta(hours=20)
        store.checkins.record_checkin(
            ref,
            "daily",
            [
                ("mood", None, float(3 + day % 6)),
                ("note", f"Day {day}: the light felt “warmer” — entry {day}", None),
            ],
        )
    store.checkins.record_checkin(ref, "phq9", [], instrument=instrument("phq9", [1, 1, 1, 1, 1, 0, 0, 0, 0]))
    store.checkins.record_checkin(ref, "gad7", [], instrument=instrument("gad7", [1, 1, 1, 1, 0, 0, 0]))
    store.flags.record_risk(
        ref,
        message_id="m1",
        text="some nights I feel hopeless",
        signal=SignalInput("moderate", ["suicide"], [{"rule": "suicide.passive"}]),
    )


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_session_prep_pdf_is_one_page_with_the_period_since_the_last_session(world):
    store, clock, mine, _, ref = world
    _seed(store, clock, ref)
    prep = store.patient_views.session_prep_for(mine, ref)
    assert prep["since_session"] and len(prep["mood"]) == 3 and len(prep["entries"]) == 3
    assert [r["in_period"] for r in prep["scores"]["phq9"]] == [False, True]
    pages, text = _pdf_text(prep_pdf.render(prep, _question, "Clinic"))
    assert pages == 1
    assert "Session prep: Zoë Synthetic" in text  # Unicode survives (DejaVu font)
    assert "Since the dosing session on" in text
    assert "PHQ-9 (depression): 5, mild" in text and "-8 since" in text  # 13 before, 5 now
    assert "GAD-7 (anxiety): 4, minimal" in text
    assert "MODERATE" in text and "suicide" in text
    assert "Day 2: the light felt “warmer”" in text
    assert "3 mood answers" in text
    audit = store.core.audit_events(patient_ref=ref)
    assert any(e["action"] == "export.session_prep_pdf" and e["actor"] == f"staff:{mine}" for e in audit)


def test_session_prep_pdf_stays_one_page_and_counts_what_did_not_fit(world):
    store, clock, mine, _, ref = world
    _seed(store, clock, ref, entries=40, note="Please ask me about my sister.")
    prep = store.patient_views.session_prep_for(mine, ref)
    pages, text = _pdf_text(prep_pdf.render(prep, _question))
    assert pages == 1
    # A note addressed to the therapist comes first, though 40 entries are newer; then newest first.
    assert text.index("Please ask me about my sister.") < text.index("Day 39:") < text.index("Day 38:")
    assert "What would you like your therapist to know?" in text
    assert "earlier entries in the portal" in text


def test_session_prep_with_nothing_yet_says_so(world):
    store, _, mine, _, ref = world
    pages, text = _pdf_text(prep_pdf.render(store.patient_views.session_prep_for(mine, ref), _question))
    assert pages == 1
    assert "Last 30 days (no dosing session yet)" in text
    assert "No mood answers in this period." in text and "No written entries in this period." in text


def _texts() -> dict[str, list[str]]:
    return fhir.item_texts(default_catalogue())


def _required_codes_ok(model) -> list[str]:
    """fhir.resources checks structure (types, cardinality, required elements) but leaves
    required code bindings (the enum_values in each field's metadata) to the caller: check them."""
    from fhir.resources.core.fhirabstractmodel import FHIRAbstractModel

    problems = []
    for name, field in model.__fields__.items():
        value = getattr(model, name, None)
        allowed = field.field_info.extra.get("enum_values")
        if allowed and value is not None and value not in allowed:
            problems.append(f"{model.resource_type}.{name} = {value!r}")
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, FHIRAbstractModel):
                problems += _required_codes_ok(child)
    return problems


def test_fhir_bundle_validates_against_fhir_r4(world):
    from fhir.resources import __fhir_version__
    from fhir.resources.bundle import Bundle
    from fhir.resources.questionnaireresponse import QuestionnaireResponse

    assert __fhir_version__ == "4.0.1"  # R4, not R4B or R5
    store, clock, mine, _, ref = world
    _seed(store, clock, ref)
    results = store.patient_views.instrument_results_for(mine, ref)["results"]
    data = fhir.bundle(ref, results, _texts(), clock.at)
    bundle = Bundle.parse_obj(json.loads(json.dumps(data)))  # as received over the wire
    assert _required_codes_ok(bundle) == []
    assert bundle.type == "collection" and len(bundle.entry) == 3
    first = bundle.entry[0].resource
    assert isinstance(first, QuestionnaireResponse)
    assert first.questionnaire == "http://loinc.org/q/44249-1" and first.status == "completed"
    assert [i.linkId for i in first.item][:2] == ["44250-9", "44255-8"]
    assert first.item[0].answer[0].valueCoding.code == "LA6570-1"  # 2: more than half the days
    assert first.item[-1].linkId == "44261-6" and first.item[-1].answer[0].valueInteger == 13
    gad = bundle.entry[2].resource
    assert gad.questionnaire == "http://loinc.org/q/69737-5" and gad.item[-1].answer[0].valueInteger == 4
    assert first.subject.identifier.value == ref and "Synthetic" not in json.dumps(data)  # no name
    # Stable ids: the same export twice names the same entries.
    again = fhir.bundle(ref, results, _texts(), clock.at)
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in data["entry"]]
    assert any(e["action"] == "export.fhir" for e in store.core.audit_events(patient_ref=ref))


def test_the_fhir_validation_would_catch_a_malformed_resource(world):
    from fhir.resources.bundle import Bundle

    store, clock, mine, _, ref = world
    _seed(store, clock, ref)
    data = fhir.bundle(
        ref, store.patient_views.instrument_results_for(mine, ref)["results"], _texts(), clock.at
    )
    data["entry"][0]["resource"]["status"] = "done"  # not in the QuestionnaireResponse status value set
    assert _required_codes_ok(Bundle.parse_obj(data)) == ["QuestionnaireResponse.status = 'done'"]
    data["entry"][0]["resource"]["status"] = "completed"
    data["entry"][0]["resource"]["authored"] = "yesterday"  # not a FHIR dateTime
    with pytest.raises(ValidationError):
        Bundle.parse_obj(data)
    data["entry"][0]["resource"]["authored"] = "2026-03-01T15:00:00+00:00"
    data["entry"][0]["resource"]["item"][0]["answer"][0]["valueCoding"]["code"] = 3  # a number, not a code
    data["entry"][0]["resource"]["item"][0]["linkId"] = None
    with pytest.raises(ValidationError):
        Bundle.parse_obj(data)


def test_malformed_item_answers_are_refused_not_exported():
    with pytest.raises(ValueError, match="malformed"):
        fhir.questionnaire_response(
            "p", {"id": 1, "instrument": "gad7", "items": [1, 2, 9], "total": 12, "at": datetime.now(UTC)}, []
        )


def test_another_therapist_gets_neither_export(world):
    store, clock, _, other, ref = world
    _seed(store, clock, ref)
    with pytest.raises(NotFound):
        store.patient_views.session_prep_for(other, ref)
    with pytest.raises(NotFound):
        store.patient_views.instrument_results_for(other, ref)
    assert not any(e["actor"] == f"staff:{other}" for e in store.core.audit_events(patient_ref=ref))
