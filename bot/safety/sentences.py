"""Splitting an entry into the units the semantic layer assesses, with offsets into the text.

Risk can sit in one sentence of a long, otherwise positive entry (clinical guide, section 5):
averaged over the whole entry it would vanish, so each sentence is assessed as well as the
whole. Chat messages often have no full stops, so line breaks end a unit too, and a very long
run-on sentence is cut into overlapping windows of words.
"""

from __future__ import annotations

import re

# A unit ends at . ! ? (and runs of them, "?!"), an ellipsis, or a line break.
_UNIT = re.compile(r"[^.!?\n…]*(?:[.!?…]+|\n|$)")
_WORD = re.compile(r"\S+")

#: A sentence longer than this many words is also assessed in windows of WINDOW words.
MAX_WORDS = 40
WINDOW = 24
STRIDE = 12


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, whitespace trimmed, in order.

    Empty pieces are dropped; a piece with no letters or digits (":)", "...") is dropped too.
    """
    spans: list[tuple[int, int]] = []
    for m in _UNIT.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end and any(ch.isalnum() for ch in text[start:end]):
            spans.append((start, end))
    return spans


def assessment_units(text: str) -> list[tuple[int, int]]:
    """The spans to assess: the whole text, each sentence if there are several, and windows
    of words over any sentence too long to read as one thought."""
    whole = (0, len(text))
    units: list[tuple[int, int]] = [whole]
    sentences = split_sentences(text)
    if len(sentences) > 1:
        units += sentences
    for start, end in sentences or [whole]:
        words = list(_WORD.finditer(text, start, end))
        if len(words) <= MAX_WORDS:
            continue
        for i in range(0, len(words) - WINDOW + STRIDE, STRIDE):
            chunk = words[i : i + WINDOW]
            units.append((chunk[0].start(), chunk[-1].end()))
    # The same span twice (one sentence == the whole) is assessed once.
    return list(dict.fromkeys(units))
