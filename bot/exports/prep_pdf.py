"""The one-page session-prep PDF: what happened since the last dosing session, at a glance.

Mood trend (a small chart and its figures), PHQ-9 and GAD-7 with bands and change, risk flags,
then the patient's own words (notes addressed to the therapist first, then newest first), for
as many entries as fit; the rest is counted
and left to the portal. Always exactly one page (tests check this).

Patient text is any Unicode, so the font is DejaVu Sans (shipped with matplotlib, which Rasa
already installs); without it, Helvetica with unencodable characters replaced.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from bot.prompts.readable import item9_above_zero, item9_answer

if TYPE_CHECKING:
    from bot.prompts.sets import Catalogue

PAGE_BOTTOM = 280.0  # mm on A4 (297): room for the footer
ENTRY_CHARS = 420
SEVERITY_RGB = {
    "critical": (153, 27, 27),
    "high": (194, 65, 12),
    "moderate": (161, 98, 7),
    "low": (55, 65, 81),
}
INSTRUMENT_NAMES = {"phq9": "PHQ-9 (depression)", "gad7": "GAD-7 (anxiety)"}
NOTE_SET = "therapist_note"  # "Note to your therapist" (clinic/prompts/therapist_note.yml)


def _font_dir() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"
    return folder if (folder / "DejaVuSans.ttf").exists() else None


class _Doc(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.footer_text = footer_text
        self.set_auto_page_break(False)
        self.set_margins(15, 14, 15)
        fonts = _font_dir()
        if fonts is not None:
            self.add_font("Body", "", str(fonts / "DejaVuSans.ttf"))
            self.add_font("Body", "B", str(fonts / "DejaVuSans-Bold.ttf"))
            self.family, self.unicode = "Body", True
        else:
            self.family, self.unicode = "Helvetica", False

    def text_of(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self) -> None:
        self.set_y(-14)
        self.font(7.5)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.text_of(self.footer_text), align="C")


def _fmt(at: datetime | None, tz: str, with_time: bool = False) -> str:
    if at is None:
        return "-"
    local = at.astimezone(ZoneInfo(tz))
    return local.strftime("%a %d %b %Y, %H:%M" if with_time else "%a %d %b %Y")


def _heading(pdf: _Doc, text: str) -> None:
    pdf.ln(2.5)
    pdf.font(11.5, bold=True)
    pdf.set_text_color(20, 40, 70)
    pdf.cell(0, 7, pdf.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(200, 205, 215)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)
    pdf.set_text_color(0, 0, 0)


def _mood_chart(pdf: _Doc, mood: list[tuple[datetime, float]], start: datetime, end: datetime) -> None:
    x0, y0, w, h = pdf.l_margin + 8, pdf.get_y() + 1, 120.0, 30.0
    pdf.set_draw_color(180, 180, 180)
    pdf.set_line_width(0.2)
    pdf.rect(x0, y0, w, h)
    pdf.font(6.5)
    pdf.set_text_color(90, 90, 90)
    for v in (0, 5, 10):
        y = y0 + h - h * v / 10
        pdf.set_draw_color(225, 225, 225)
        pdf.line(x0, y, x0 + w, y)
        pdf.set_xy(x0 - 7, y - 1.5)
        pdf.cell(6, 3, str(v), align="R")
    for at, align, x in ((start, "L", x0), (end, "R", x0 + w - 30)):
        pdf.set_xy(x, y0 + h + 0.5)
        pdf.cell(30, 3, at.strftime("%d %b"), align=align)
    span = max((end - start).total_seconds(), 1.0)
    points = [(x0 + w * (at - start).total_seconds() / span, y0 + h - h * v / 10) for at, v in mood]
    pdf.set_draw_color(37, 99, 235)
    pdf.set_line_width(0.5)
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        pdf.line(xa, ya, xb, yb)
    pdf.set_fill_color(37, 99, 235)
    for x, y in points:
        pdf.ellipse(x - 0.9, y - 0.9, 1.8, 1.8, style="F")
    pdf.set_line_width(0.2)
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(x0 + w + 6, y0)


def render(
    prep: dict[str, Any],
    question_for: Callable[[str, str], str],
    clinic: str = "",
    catalogue: Catalogue | None = None,
) -> bytes:
    """The PDF bytes for `prep` (PatientViews.session_prep_for). `question_for(prompt_set, key)`
    gives the question an entry answered; `catalogue` (default: clinic/prompts/) the words of
    questionnaire answers."""
    if catalogue is None:
        from bot.prompts.sets import default_catalogue

        catalogue = default_catalogue()
    tz = prep["timezone"]
    generated = prep["generated_at"]
    pdf = _Doc(
        f"Confidential health information. {clinic + ' · ' if clinic else ''}Generated by Interlude "
        f"{_fmt(generated, tz, True)} ({tz}). Full record in the portal."
    )
    pdf.set_title(f"Session prep: {prep['name']}")
    pdf.set_author("Interlude")
    pdf.add_page()

    pdf.font(16, bold=True)
    pdf.cell(0, 9, pdf.text_of(f"Session prep: {prep['name']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font(9)
    pdf.set_text_color(60, 60, 60)
    period = (
        f"Since the dosing session on {_fmt(prep['since'], tz)}"
        if prep["since_session"]
        else f"Last 30 days (no dosing session yet), from {_fmt(prep['since'], tz)}"
    )
    lines = [
        period + f"  ·  next session: {_fmt(prep['next_session'], tz, True)}",
        f"Therapist: {prep['therapist']}  ·  Interlude id: {prep['ref']}  ·  times in {tz}",
    ]
    for line in lines:
        pdf.cell(0, 5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)

    # Mood
    _heading(pdf, "Mood (0 very low, 10 very good)")
    mood = prep["mood"]
    if mood:
        top = pdf.get_y()
        _mood_chart(pdf, mood, prep["since"], generated)
        values = [v for _, v in mood]
        x = pdf.get_x()
        pdf.font(9)
        for line in (
            f"{len(values)} mood answer{'s' if len(values) != 1 else ''}",
            f"average {sum(values) / len(values):.1f}",
            f"lowest {min(values):g}, highest {max(values):g}",
            f"latest {values[-1]:g} ({_fmt(mood[-1][0], tz)})",
        ):
            pdf.set_x(x)
            pdf.cell(0, 5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(top + 34)
    else:
        pdf.font(9)
        pdf.cell(0, 5, "No mood answers in this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Scores
    _heading(pdf, "Questionnaires")
    pdf.font(9)
    for instrument, results in prep["scores"].items():
        name = INSTRUMENT_NAMES.get(instrument, instrument)
        in_period = [r for r in results if r["in_period"]]
        if not in_period:
            text = f"{name}: none completed in this period"
            if results:
                last = results[-1]
                text += f" (last: {last['total']}, {last['band']}, {_fmt(last['at'], tz)})"
        else:
            latest = in_period[-1]
            earlier = [r for r in results if r["at"] < latest["at"]]
            text = f"{name}: {latest['total']}, {latest['band']} ({_fmt(latest['at'], tz)})"
            if earlier:
                change = latest["total"] - earlier[-1]["total"]
                text += f"; {'+' if change > 0 else ''}{change} since {_fmt(earlier[-1]['at'], tz)}"
            if len(in_period) > 1:
                text += f"; {len(in_period)} in this period: " + ", ".join(str(r["total"]) for r in in_period)
        pdf.multi_cell(0, 5, pdf.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for r in in_period:
            value = item9_above_zero(instrument, r.get("items") or [])
            if value:
                # Marked in words and weight, not colour alone (printed in black and white too).
                pdf.set_text_color(*SEVERITY_RGB["critical"])
                pdf.font(9, bold=True)
                line = (
                    f"! ITEM 9 ABOVE 0 ({_fmt(r['at'], tz)}): {catalogue.question(instrument, 'item9')}: "
                    f"{item9_answer(catalogue, value)} ({value})"
                )
                pdf.multi_cell(0, 5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.set_text_color(0, 0, 0)
                pdf.font(9)

    # Flags
    _heading(pdf, "Risk flags")
    pdf.font(9)
    if not prep["flags"]:
        pdf.cell(0, 5, "None in this period, and none open.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for f in prep["flags"]:
        pdf.set_text_color(*SEVERITY_RGB.get(f.severity, (0, 0, 0)))
        pdf.font(9, bold=True)
        pdf.cell(22, 5, f.severity.upper())
        pdf.set_text_color(0, 0, 0)
        pdf.font(9)
        text = f"#{f.id}  {_fmt(f.created_at, tz, True)}  ·  {', '.join(f.categories)}  ·  {f.status}"
        pdf.cell(0, 5, pdf.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for run in prep.get("screeners", {}).get(f.id, []):
            # The C-SSRS screener asked in chat: its outcome and each answer, short.
            answers = ", ".join(
                f"{q.upper().replace('_RECENT', ' past 3 months')} {a}" for q, _w, a in run["items"]
            )
            line = f"C-SSRS screener: {run['status']}, triage {run['result']}" + (
                f" ({answers})" if answers else ""
            )
            pdf.cell(22, 5, "")
            pdf.cell(0, 5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Entries: notes the patient addressed to the therapist first, then the newest first, as
    # many as fit on the page.
    _heading(pdf, "In their words (notes to you first, then newest first)")
    entries = sorted(
        reversed(prep["entries"]), key=lambda e: e["prompt_set"] != NOTE_SET
    )  # stable: newest first within each group
    shown = 0
    for e in entries:
        text = e["text"] if len(e["text"]) <= ENTRY_CHARS else e["text"][: ENTRY_CHARS - 1].rstrip() + "…"
        label = f"{_fmt(e['at'], tz)} · {question_for(e['prompt_set'], e['key'])}"
        pdf.font(8, bold=True)
        label_h = pdf.multi_cell(0, 4, pdf.text_of(label), dry_run=True, output="HEIGHT")
        pdf.font(9)
        body_h = pdf.multi_cell(0, 4.6, pdf.text_of(text), dry_run=True, output="HEIGHT")
        if pdf.get_y() + label_h + body_h + 8 > PAGE_BOTTOM:
            break
        pdf.font(8, bold=True)
        pdf.set_text_color(70, 70, 70)
        pdf.multi_cell(0, 4, pdf.text_of(label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.font(9)
        pdf.multi_cell(0, 4.6, pdf.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1.2)
        shown += 1
    pdf.font(8.5)
    pdf.set_text_color(70, 70, 70)
    if not entries:
        pdf.cell(0, 5, "No written entries in this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    elif shown < len(entries):
        more = len(entries) - shown
        pdf.cell(
            0,
            5,
            f"{more} earlier entr{'y' if more == 1 else 'ies'} in the portal's timeline.",
            new_x=XPos.LMARGIN,
        )
    return bytes(pdf.output())
