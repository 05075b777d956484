"""Reading a reply to "are you safe right now?": an answer, or a new message.

Plain Python, no Rasa. The safety policy sends a reply to the follow-up action only when it is
an answer (yes, no, or unsure, in the patient's words, typos forgiven). Anything else, such as
"is it ok to have a glass of wine after my troche?", is a new message: it is risk-checked like
every message and answered as usual, and the safety question stays unanswered. Before this, any
reply that was not a clear yes was read as "not safe" and made the flag critical.

An answer is a short reply made only of answer words ("yes", "safe", "not", "don't know") and
the small words people put around them ("I'm", "right now", "thanks"). "Unsure" is not a yes:
the follow-up treats it as not confirmed safe, as before.
"""

from __future__ import annotations

import difflib
import re

YES, NO, UNSURE = "yes", "no", "unsure"

_PAYLOADS = {"/affirm": YES, "/deny": NO, "\U0001f44d": YES, "\u2705": YES, "\U0001f44e": NO}

#: Said around an answer without changing it; removed before reading ("don't worry" is no "don't").
_SET_PHRASES = (
    "don't worry",
    "dont worry",
    "no worries",
    "thank you",
    "thanks for asking",
    "right now",
    "for now",
    "at the moment",
    "at this time",
)
#: Phrases that make a reply "unsure" (on the whole normalised reply).
_UNSURE_PHRASES = (
    "don't know",
    "dont know",
    "do not know",
    "not sure",
    "no idea",
    "i guess",
    "think so",
    "kind of",
    "sort of",
    "hard to say",
    "not certain",
    "rather not",
    "prefer not",
)
_UNSURE_WORDS = frozenset(
    {"idk", "dunno", "unsure", "maybe", "perhaps", "possibly", "probably", "kinda", "sorta"}
)
_YES_WORDS = frozenset("yes yeah yep yup ya yah yea y sure safe ok okay fine alright good".split())
_NO_WORDS = frozenset({"no", "nope", "nah", "n"})
#: Negations that make a reply a no, whatever else it says ("I don't feel safe", "not ok").
_NEGATIONS = frozenset({"not", "don't", "dont", "unsafe", "never", "can't", "cant", "isn't", "am't"})
#: Small words around an answer; a reply with any other word is not an answer.
_FILLER = frozenset(
    """
    i i'm im i'd id am be i'll ill will feel feeling think it's its it is are you now currently still
    just really honestly totally completely pretty very quite mostly all so and but well um uh
    hmm er oh thanks ty promise do know idea say rather prefer to guess kind sort of hard
    certain today tonight atm
    """.split()
)
#: Words typos are mapped to (same first letter, one slip): "yse", "saef", "nto", "okey".
_TYPO_TARGETS = ("yes", "yeah", "yep", "safe", "sure", "okay", "fine", "not", "nope", "know", "idk")
#: Real words that look like a typo of a target but mean something else.
_NOT_TYPOS = frozenset("same sane sale save fire five file find fin yet nod net".split())
_VOCABULARY = _YES_WORDS | _NO_WORDS | _NEGATIONS | _UNSURE_WORDS | _FILLER
_MAX_WORDS = 12


def _norm(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(.)\1{2,}", r"\1", text)  # "yesss" -> "yes", "nooo" -> "no"
    return re.sub(r"\s+", " ", text).strip()


def _fix(word: str) -> str:
    """A typo of an answer word, mapped to it; any other word unchanged."""
    if word in _VOCABULARY or len(word) < 3 or word in _NOT_TYPOS:
        return word
    cutoff = 0.66 if len(word) <= 4 else 0.75
    score, target = max(
        ((difflib.SequenceMatcher(None, word, t).ratio(), t) for t in _TYPO_TARGETS if t[0] == word[0]),
        default=(0.0, word),
    )
    return target if score >= cutoff else word


def parse_safe_answer(text: str | None) -> str | None:
    """yes / no / unsure when the reply answers "are you safe right now?"; None when it is a
    new message (a question, or anything else the patient wants to say)."""
    if not text:
        return None
    raw = re.sub("[\ufe0f\U0001f3fb-\U0001f3ff]", "", text.strip().lower())  # emoji variants, skin tones
    if raw in _PAYLOADS:
        return _PAYLOADS[raw]
    if "?" in raw:  # a question of their own
        return None
    norm = _norm(text)
    for phrase in _SET_PHRASES:
        norm = re.sub(rf"\b{phrase}\b", " ", norm)
    words = [_fix(w) for w in norm.split()]
    if not words or len(words) > _MAX_WORDS or any(w not in _VOCABULARY for w in words):
        return None
    fixed = " ".join(words)
    if any(w in _UNSURE_WORDS for w in words) or any(re.search(rf"\b{p}\b", fixed) for p in _UNSURE_PHRASES):
        return UNSURE
    if any(w in _NEGATIONS for w in words):
        return NO
    yes = any(w in _YES_WORDS for w in words)
    if any(w in _NO_WORDS for w in words):
        # "no" alone is a no; "no, I'm fine" could mean either, so it is not a clear yes.
        return UNSURE if yes else NO
    return YES if yes else None
