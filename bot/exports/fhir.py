"""PHQ-9 and GAD-7 results as FHIR R4 (4.0.1) QuestionnaireResponse resources, in a Bundle.

Codes are LOINC's: the panels (PHQ-9 44249-1, GAD-7 69737-5) name the questionnaire, each item
carries its LOINC question code as linkId, and each answer the LOINC answer code of the
shared "Not at all .. Nearly every day" list (LL358-3). Totals are their own items
(44261-6, 70274-6). The patient appears only as Interlude's pseudonymous id: the receiving
system links it to a chart. tests/unit/test_fhir_export.py validates the output against the
FHIR R4 structure definitions (fhir.resources, R4 models).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.prompts.sets import Catalogue

LOINC = "http://loinc.org"
PATIENT_ID_SYSTEM = "urn:interlude:patient"
RESULT_ID_SYSTEM = "urn:interlude:instrument-result"

ANSWERS = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)

INSTRUMENTS: dict[str, dict[str, Any]] = {
    "phq9": {
        "panel": "44249-1",
        "title": "PHQ-9 quick depression assessment panel",
        "items": (
            "44250-9",  # little interest or pleasure
            "44255-8",  # feeling down, depressed, or hopeless
            "44259-0",  # trouble falling or staying asleep, or sleeping too much
            "44254-1",  # feeling tired or having little energy
            "44251-7",  # poor appetite or overeating
            "44258-2",  # feeling bad about yourself
            "44252-5",  # trouble concentrating
            "44253-3",  # moving or speaking slowly, or fidgety or restless
            "44260-8",  # thoughts that you would be better off dead, or of hurting yourself
        ),
        "total": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score"),
    },
    "gad7": {
        "panel": "69737-5",
        "title": "Generalized anxiety disorder 7 item (GAD-7)",
        "items": (
            "69725-0",  # feeling nervous, anxious, or on edge
            "68509-9",  # not being able to stop or control worrying
            "69733-4",  # worrying too much about different things
            "69734-2",  # trouble relaxing
            "69735-9",  # being so restless that it's hard to sit still
            "69689-8",  # becoming easily annoyed or irritable
            "69736-7",  # feeling afraid as if something awful might happen
        ),
        "total": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score"),
    },
}


def item_texts(catalogue: Catalogue) -> dict[str, list[str]]:
    """Each instrument's questions as the patient saw them (its prompt set, in item order)."""
    return {name: [p.text for p in catalogue.get(name).prompts] for name in INSTRUMENTS}


def questionnaire_response(
    ref: str,
    result: Mapping[str, Any],
    item_texts: Sequence[str],
) -> dict[str, Any]:
    """One scored instrument (`result`: id, instrument, items, total, at) as a
    QuestionnaireResponse. `item_texts` are the questions as the patient saw them."""
    spec = INSTRUMENTS[result["instrument"]]
    items = list(result["items"])
    if len(items) != len(spec["items"]) or any(v not in (0, 1, 2, 3) for v in items):
        raise ValueError(f"{result['instrument']} result {result['id']} has malformed item answers")
    at: datetime = result["at"]
    answer_items = []
    for code, text, value in zip(spec["items"], item_texts, items, strict=True):
        answer_code, display = ANSWERS[value]
        answer_items.append(
            {
                "linkId": code,
                "text": text,
                "answer": [{"valueCoding": {"system": LOINC, "code": answer_code, "display": display}}],
            }
        )
    total_code, total_text = spec["total"]
    answer_items.append(
        {"linkId": total_code, "text": total_text, "answer": [{"valueInteger": result["total"]}]}
    )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"interlude-{result['instrument']}-{result['id']}",
        "identifier": {"system": RESULT_ID_SYSTEM, "value": f"{ref}/{result['id']}"},
        "questionnaire": f"{LOINC}/q/{spec['panel']}",
        "status": "completed",
        "subject": {
            "identifier": {"system": PATIENT_ID_SYSTEM, "value": ref},
            "display": f"Interlude patient {ref}",
        },
        "authored": at.isoformat(timespec="seconds"),
        "source": {"identifier": {"system": PATIENT_ID_SYSTEM, "value": ref}},
        "item": answer_items,
    }


def bundle(
    ref: str, results: Sequence[Mapping[str, Any]], texts: Mapping[str, Sequence[str]], at: datetime
) -> dict:
    """Every result as a `collection` Bundle; entry ids are stable across repeated exports."""
    entries = []
    for result in results:
        resource = questionnaire_response(ref, result, texts[result["instrument"]])
        full_url = uuid.uuid5(uuid.NAMESPACE_URL, f"interlude:{ref}:instrument-result:{result['id']}").urn
        entries.append({"fullUrl": full_url, "resource": resource})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": at.isoformat(timespec="seconds"),
        "entry": entries,
    }
