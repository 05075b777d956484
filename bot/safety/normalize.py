"""Text normalisation for risk matching, keeping a map back to the original characters.

Patients write in lowercase, with typos, spaced or dotted letters ("k i l l"), stretched
letters ("diiiie"), leetspeak ("su1c1de"), slang ("kms") and emoji. Each step here rewrites
the text and carries, for every output character, the index of the input character it came
from, so that matched spans can be shown to clinicians in the patient's own words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Normalized:
    text: str
    origin: tuple[int, ...]  # origin[i] = index in the original text of text[i]
    original_length: int

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalised text back to the original text."""
        if start >= len(self.origin):
            return self.original_length, self.original_length
        o_start = self.origin[start]
        o_end = self.origin[end - 1] + 1 if end > start else o_start
        return o_start, max(o_end, o_start)


def _rewrite(
    norm: Normalized, pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str | None]
) -> Normalized:
    """Like re.sub, but keeps the origin map; `repl` returning None keeps the match."""
    out: list[str] = []
    origin: list[int] = []
    pos = 0
    for m in pattern.finditer(norm.text):
        new = repl(m)
        if new is None:
            continue
        out.append(norm.text[pos : m.start()])
        origin.extend(norm.origin[pos : m.start()])
        if new:
            src = norm.origin[m.start() : m.end()] or (norm.origin[m.start() - 1],)
            # Spread the replacement over the source characters, proportionally.
            for i in range(len(new)):
                origin.append(src[min(len(src) - 1, i * len(src) // len(new))])
            out.append(new)
        pos = m.end()
    out.append(norm.text[pos:])
    origin.extend(norm.origin[pos:])
    return Normalized("".join(out), tuple(origin), norm.original_length)


_SPACED_LETTERS = re.compile(r"\b(?:[a-z][ .\-_*]){2,}[a-z]\b")
_LEET_WORD = re.compile(r"\b(?=[a-z0-9@$]*[a-z])(?=[a-z0-9@$]*[0-9@$])[a-z0-9@$]{3,}\b")
_LEET = str.maketrans({"1": "i", "3": "e", "0": "o", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_APOSTROPHES = re.compile("[\u2018\u2019\u02bc`\u00b4]")


@lru_cache(maxsize=16)
def _alternation(keys: tuple[str, ...], whole_words: bool) -> re.Pattern[str]:
    """The compiled alternation of `keys`, longest first; built once per key set (escaping and
    compiling a lexicon's words took most of the time of normalising each sentence)."""
    body = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.compile(r"(?<![\w'])(?:" + body + r")(?![\w'])" if whole_words else body)


def normalize(
    text: str,
    *,
    emoji: Mapping[str, str],
    words: Mapping[str, str],
) -> Normalized:
    """Lowercase and rewrite `text` for matching; `words` maps whole words to replacements."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch).lower()
        for c in folded:
            chars.append(c)
            origin.append(i)
    norm = Normalized("".join(chars), tuple(origin), len(text))

    norm = _rewrite(norm, _APOSTROPHES, lambda m: "'")
    if emoji:
        emoji_re = _alternation(tuple(emoji), False)
        norm = _rewrite(norm, emoji_re, lambda m: f" {emoji[m.group(0)]} ")
    # "k i l l", "s.u.i.c.i.d.e" -> "kill", "suicide"
    norm = _rewrite(norm, _SPACED_LETTERS, lambda m: re.sub(r"[ .\-_*]", "", m.group(0)))
    # "su1c1de" -> "suicide" (only inside words that also hold letters: "24/7" stays)
    norm = _rewrite(norm, _LEET_WORD, lambda m: m.group(0).translate(_LEET))
    # "diiiie" -> "diie" (fuzzy matching takes it from there), "killlll" -> "kill"
    norm = _rewrite(norm, _STRETCHED, lambda m: m.group(1) * 2)
    if words:
        words_re = _alternation(tuple(words), True)
        norm = _rewrite(norm, words_re, lambda m: words[m.group(0)])
    return norm
