"""PHQ-9 and GAD-7 scoring, exactly as published (clinical guide, section 3)."""

from __future__ import annotations

from collections.abc import Sequence

PHQ9_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately severe"), (27, "severe"))
GAD7_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (21, "severe"))
ITEMS = {"phq9": 9, "gad7": 7}


def band(instrument: str, total: int) -> str:
    bands = PHQ9_BANDS if instrument == "phq9" else GAD7_BANDS
    return next(name for upper, name in bands if total <= upper)


def score(instrument: str, items: Sequence[int]) -> tuple[int, str]:
    """Total and severity band; every item must be answered 0..3 (no prorating)."""
    if instrument not in ITEMS:
        raise ValueError(f"unknown instrument {instrument!r}")
    if len(items) != ITEMS[instrument] or any(i not in (0, 1, 2, 3) for i in items):
        raise ValueError(f"{instrument} needs {ITEMS[instrument]} answers from 0 to 3")
    total = sum(items)
    return total, band(instrument, total)


def phq9_item9_severity(value: int) -> str | None:
    """Item 9 (thoughts of being better off dead or of self-harm) above 0 starts the safety path:
    several days -> moderate; more than half the days or nearly every day -> high."""
    if value <= 0:
        return None
    return "moderate" if value == 1 else "high"
