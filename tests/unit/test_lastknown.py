"""The last good answer of a lookup is served only while the database is unreachable."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from bot.lastknown import LastKnown


def test_the_last_answer_stands_in_only_during_an_outage():
    answers = {"pt_1": "Ada"}
    down = False

    def find_patient(ref: str) -> str | None:
        if down:
            raise OperationalError("select", {}, Exception("database unreachable"))
        return answers.get(ref)

    known = LastKnown(size=2)
    assert known.get(find_patient, "pt_1") == "Ada"
    known.put(find_patient, "pt_2", value="Bo")  # learnt on enrolment, never looked up
    down = True
    assert known.get(find_patient, "pt_1") == "Ada"
    assert known.get(find_patient, "pt_2") == "Bo"
    with pytest.raises(OperationalError):  # never read: the caller answers honestly
        known.get(find_patient, "pt_3")
    down = False
    answers["pt_1"] = None  # deleted: the database's answer wins again at once
    assert known.get(find_patient, "pt_1") is None

    def broken(ref: str) -> str:
        raise ValueError("bad input is not an outage")

    with pytest.raises(ValueError):
        known.get(broken, "pt_1")
