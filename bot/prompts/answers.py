# ruff: noqa: E501  (answer and command patterns read best one alternative per line, unwrapped)
"""Parsing patients' answers the way people actually write them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.prompts.sets import Prompt
from bot.schedule.controls import parse_reminder_command

_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_KEYCAPS = {f"{d}\ufe0f\u20e3": str(d) for d in range(10)} | {"\U0001f51f": "10"}
# "7", "7/10", "7 out of 10", "6.5" (a decimal is kept as written and rounded later)
_NUMERIC = re.compile(r"(?<![\d.\-])(\d{1,3}(?:[.,]\d)?)(?:\s*(?:/|out\s+of)\s*10)?(?![\d])")
_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")

_NOT_A_RATING = re.compile(
    r"\s*(?::\d|am\b|pm\b|a\.m|p\.m|months?\b|years?\b|weeks?\b|minutes?\b|mins?\b|hours?\b|hrs?\b|days?\b|times?\b|%|x\b)"
)
_FIRST_WORD_NUMBER = re.compile(
    r"^(zero|one|two|three|four|five|six|seven|eight|nine|ten)(\s*[.,!;:-]|\s+(actually|honestly|probably|maybe|i think"
    r"|i guess|i'?d say|id say|tbh|today|tonight|right now|now|really|for sure|definitely|i reckon|ish|or so)\b)"
)
_WORD_CUE = re.compile(
    r"(?:\b(?:a|an|about|around|like|maybe|probably|prob|say|its|it's|i'm|im|feel|feeling|at|solid|"
    r"rating|rate|give it|call it|is|was|more like|closer to|i guess|honestly|def|definitely|think|reckon|put it at)\s+)$"
)
#: "between 6 and 7, call it 6": the number the patient settles on decides (round 5).
_SETTLED = re.compile(
    r"\b(?:call it|go with|let'?s say|say|make it|put it at|put it down as|settle (?:on|for)|i'?ll (?:say|go with|put))"
    r"\s+(?:a\s+)?(\d{1,2}|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b(?!.*\d)"
)
_WORD_OUT_OF = re.compile(
    r"\b(zero|one|two|three|four|five|six|seven|eight|nine|ten)\s*(?:/|out\s+of|outta)\s*(?:ten|10)\b"
)
_WORD_NOT_RATING = re.compile(r"\s+(?:of|more|another|thing|day|days|time|times|person|more time|bit)\b")

SKIP_WORDS = frozenset({"skip", "pass", "next", "skip it", "skip this", "skip this one", "rather not say"})


def parse_scale(text: str, low: int = 0, high: int = 10, *, words_anywhere: bool = False) -> int | None:
    """The single number on a low..high scale in `text`, or None if absent or ambiguous.

    "7", "seven", "7/10", "about a 6", "7️⃣" -> that number; "6.5" -> 7 (half rounds up);
    "6 or 7", "12" -> None (asked again with a hint rather than guessed).
    """
    if not text:
        return None
    s = text.strip().lower()
    for cap, digit in _KEYCAPS.items():
        s = s.replace(cap, f" {digit} ")
    # "seven out of ten": one rating, not a seven and a ten (round 19)
    s = _WORD_OUT_OF.sub(lambda m: str(_NUMBER_WORDS[m.group(1)]), s)
    values: set[int] = set()
    for m in _NUMERIC.finditer(s):
        if _NOT_A_RATING.match(s, m.end()):
            continue  # "3pm", "4 months", "20 minutes": a time or a duration, not the answer
        raw = m.group(1).replace(",", ".")
        value = float(raw)
        values.add(int(value + 0.5))
    # "zero. nothing going on": a number word first, on its own, is the answer too
    short = words_anywhere or len(re.findall(r"[a-z']+|\d+", s)) <= 4 or bool(_FIRST_WORD_NUMBER.match(s))
    for m in _WORD.finditer(s):
        # A number word inside a sentence is an answer only where people rate with it ("about a
        # seven", "feeling like a six"), never in "one of those days" or "no one asked".
        if short or _WORD_CUE.search(s, 0, m.start()):
            if not _WORD_NOT_RATING.match(s, m.end()):
                values.add(_NUMBER_WORDS[m.group(1)])
    settled = _SETTLED.search(s)
    if len(values) > 1 and settled:
        word = settled.group(1)
        values = {int(word) if word.isdigit() else _NUMBER_WORDS[word]}
    if len(values) != 1:
        return None
    (value,) = values
    return value if low <= value <= high else None


def is_skip(text: str) -> bool:
    return text.strip().lower().rstrip(".!") in SKIP_WORDS


PAUSE_COMMANDS = frozenset(
    {
        "not now",
        "later",
        "maybe later",
        "pause",
        "another time",
        "not right now",
        "not today",
        "can we do this later",
        "can we do it later",
        "remind me later",
        "later please",
        "i'm busy",
        "im busy",
        "no time now",
        "pause please",
        "can we pause",
    }
)
STOP_COMMANDS = frozenset(
    {
        "stop",
        "stop it",
        "stop please",
        "please stop",
        "cancel",
        "quit",
        "exit",
        "end",
        "stop the check in",
        "stop the checkin",
        "stop check in",
        "stop checkin",
        "end the check in",
        "cancel the check in",
        "i want to stop",
        "can we stop",
        "let's stop",
        "lets stop",
        "let's stop here",
        "lets stop here",
        "stop here",
        "that's enough",
        "thats enough",
        "that's enough for now",
        "that's enough for today",
        "i'm done for now",
        "im done for now",
        "done for now",
        "done for today",
        "stop for today",
        "i'm done for today",
        "enough for today",
    }
)
BACK_COMMANDS = frozenset(
    {
        "go back",
        "back",
        "undo",
        "change my last answer",
        "that was wrong",
        "i made a mistake",
        "correct my last answer",
        "oops",
        "wait that's wrong",
        "wait thats wrong",
        "previous question",
        "can i change my last answer",
        "let me change that",
        "change that",
        "wrong answer",
    }
)


def _command_text(text: str) -> str:
    return " ".join(text.strip().lower().replace("-", " ").replace("\u2019", "'").rstrip(".!,").split())


def loop_command(text: str) -> str | None:
    """An explicit command inside a check-in: "pause", "stop" (for today) or "back" (correct the
    last answer). Deliberately literal: a journal line that merely mentions stopping ("I want to
    stop feeling like this") is an answer, not a command."""
    s = _command_text(text)
    if s in PAUSE_COMMANDS or parse_reminder_command(text) is not None:
        # "remind me in an hour", "stop reminders", "change my check-in time to 8pm": pause the
        # questions (answers kept); action_submit_prompt_set then changes the schedule.
        return "pause"
    if s in STOP_COMMANDS:
        return "stop"
    if s in BACK_COMMANDS:
        return "back"
    return None


def is_stop_command(text: str) -> bool:
    """Pausing or stopping (either ends the current run of questions)."""
    return loop_command(text) in ("pause", "stop")


@dataclass(frozen=True)
class Parsed:
    """One understood answer: a value, a text, or a skip; or why it was not understood."""

    value: float | None = None
    text: str | None = None
    skipped: bool = False
    error: str | None = None  # unparseable | empty | too_long | not_skippable

    @property
    def ok(self) -> bool:
        return self.error is None


_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "last": -1,
}
_ORDINAL = re.compile(
    r"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+(?:one|option|answer)\b"
)
_FREQUENCY_WORDS = {
    "not at all": re.compile(
        r"^(never|hardly at all|hardly ever|barely|rarely|not really|none|nope|nah|no|nil|zero days|pas du tout|para nada)\b"
    ),
    "several days": re.compile(
        r"\b(a few days|some days|sometimes|a couple of days|once or twice|now and then|occasionally"
        r"|a little|less than half|under half|a couple (of )?(times|days)|a few times|a day or two|only a (few|couple)"
        r"|(only )?few (days|times)|sev(e)?r(a)?l days|sev days|(a )?handful of days)\b"
    ),
    "more than half the days": re.compile(
        r"\b(more than half|over half|most days|often|more often than not|more days than not|a lot of days|half the time"
        r"|majority)\b"
    ),
    "nearly every day": re.compile(
        r"\b(every day|everyday|all the time|always|daily|constantly|almost every day"
        r"|(almost|nearly|pretty much|basically) (all|every)( single)? (the )?(days?|week|time)|every single day|all (the )?days|all week)\b"
    ),
}
_YES = frozenset({"yes", "y", "yeah", "yep", "yup", "sure", "i did", "i have", "true"})
_NO = frozenset({"no", "n", "nope", "nah", "not really", "i didn't", "i haven't", "false"})
_FIRST_NUMBER = re.compile(r"(?<![\d.\-])(\d{1,4}(?:[.,]\d+)?)")


#: "option 1", "number 2", "answer 3": an option named by its number (not "2 nights").
_OPTION_NUMBER = re.compile(
    r"^(?:(?:it'?s|i'?d say|i'?ll say|say|ok|okay)\s+)?(?:option|number|answer|choice|no\.?)\s*\d\b"
)
_QUESTION_START = re.compile(
    r"^(is|are|does|do|did|what|how|why|when|where|which|who|can|could|should|would|will|am|or)\b"
)


def answer_after_question(text: str) -> str | None:
    """The short answer that follows a question about the prompt ("is 10 the worst? then 8" ->
    "then 8"), or None when nothing but another question or a long sentence follows (round 18)."""
    if "?" not in text:
        return None
    tail = text.rsplit("?", 1)[1].strip(" ,.!-")
    words = tail.lower().split()
    if not words or len(words) > 5 or _QUESTION_START.match(tail.lower()):
        return None
    return tail


def parse_answer(prompt: Prompt, text: str, *, max_chars: int) -> Parsed:
    """Understand `text` as an answer to `prompt` (see bot.prompts.sets for the types)."""
    raw = (text or "").strip()
    after = answer_after_question(raw) if prompt.type != "text" else None
    if after:  # "is 10 the worst? then 8": the answer after the question, if it is one
        parsed = parse_answer(prompt, after, max_chars=max_chars)
        if parsed.ok:
            return parsed
    if is_skip(raw):
        return Parsed(skipped=True) if prompt.skippable else Parsed(error="not_skippable")
    if not raw:
        return Parsed(error="empty")
    if prompt.type == "text":
        if len(raw) > max_chars:
            return Parsed(error="too_long")
        return Parsed(text=raw)
    if prompt.type == "scale":
        value = parse_scale(raw, prompt.min, prompt.max)
        return Parsed(value=float(value)) if value is not None else Parsed(error="unparseable")
    if prompt.type == "number":
        m = _FIRST_NUMBER.search(raw.replace(",", "."))
        if m is None:
            word = parse_scale(raw, 0, 10)
            return Parsed(value=float(word)) if word is not None else Parsed(error="unparseable")
        return Parsed(value=float(m.group(1)))
    if prompt.type == "yes_no":
        s = raw.lower().rstrip(".!")
        if s in _YES:
            return Parsed(value=1.0)
        if s in _NO:
            return Parsed(value=0.0)
        return Parsed(error="unparseable")
    # choice: a button payload (the value), or the option's words
    s = raw.lower().rstrip(".!")
    values = {o.value for o in prompt.options}
    if s.isdigit() and int(s) in values:
        return Parsed(value=float(int(s)))
    matches = [o for o in prompt.options if o.label.lower() == s] or [
        o for o in prompt.options if o.label.lower() in s or s in o.label.lower()
    ]
    if len({o.value for o in matches}) == 1:
        return Parsed(value=float(matches[0].value))
    # "the second one", and the everyday words for the four frequency answers of PHQ-9/GAD-7
    m = _ORDINAL.search(s)
    if m and not matches:
        index = _ORDINALS[m.group(1)]
        options = list(prompt.options)
        if -len(options) <= index < len(options):
            return Parsed(value=float(options[index].value))
    labels = {o.label.lower(): o.value for o in prompt.options}
    for label, words in _FREQUENCY_WORDS.items():
        if label in labels and words.search(s) and not matches:
            return Parsed(value=float(labels[label]))
    # "Option 1 please", "somewhere between 1 and 2... go with 2": the option's number (round 18-19)
    numbered = [v for v in values if isinstance(v, int | float)]
    if numbered and not matches and (_OPTION_NUMBER.search(s) or _SETTLED.search(s)):
        value = parse_scale(s, int(min(numbered)), int(max(numbered)))
        if value is not None and value in values:
            return Parsed(value=float(value))
    return Parsed(error="unparseable")


_CORRECTION_CUES = re.compile(
    r"\b(i meant|meant to (say|put|press|tap)|make (that|it)"
    r"|change (that|it|my (last )?answer|the (last|previous) (one|answer))( to| into)?"
    r"|should (be|have been|say)|supposed to (be|say)|actually|wait|sorry|oops|previous one"
    r"|last one|fat fingers?|typo|it'?s|it was|that was)\b"
)


def parse_correction(prompt: Prompt, text: str) -> float | None:
    """The value a correction names for `prompt` (the question being corrected), or None.

    "I meant 6 not 4", "make that a 6", "should be seven, not five", "from 4 to 6",
    "'several days' not 'nearly every day'": the number that is not negated is the new answer.
    """
    s = (text or "").lower().replace("\u2019", "'")
    candidates: list[str] = []
    m = re.search(r"\bfrom\b(.+?)\bto\b(.+)", s)
    if m:
        candidates.append(m.group(2))
    m = re.search(r"(.+?)\binstead of\b", s)
    if m:
        candidates.append(m.group(1))
    m = re.search(r"(.*?)\bnot\b", s)
    if m and m.group(1).strip():
        candidates.append(m.group(1))
    m = re.search(r"\bnot\b(.+?)\b(but|it'?s|it was|should be)\b(.+)", s)
    if m:
        candidates.append(m.group(3))
    candidates.append(s)
    for raw in candidates:
        cleaned = _CORRECTION_CUES.sub(" ", raw)
        if prompt.type == "scale":
            value = parse_scale(cleaned, prompt.min, prompt.max, words_anywhere=True)
            if value is not None:
                return float(value)
        elif prompt.type in ("number", "choice", "yes_no"):
            parsed = parse_answer(prompt, cleaned.strip(" ,.'\""), max_chars=1000)
            if parsed.ok and parsed.value is not None:
                return parsed.value
    return None


#: What the classifier's intent means mid check-in, when the words are not an answer.
INTENT_BEHAVIOURS = {
    "stop_checkin": "stop_today",
    "not_now": "pause",
    "review_entries": "review",
    "free_journal": "journal",
    "message_therapist": "note_therapist",
    "start_questionnaire": "questionnaire",
    "ask_bot": "bot_question",
    "ask_privacy": "privacy",
    "request_data_delete": "data_delete",
    "request_data_export": "data_export",
    "talk_to_human": "human",
    "ask_medical_advice": "medical_question",
    "help": "help",
    "greet": "greet",
    "goodbye": "bye",
    "thank": "thanks",
    "resume_checkin": "resume",
    "emoji_only": "emoji_only",
    "correct_answer": "correct",
}
_STRONG_CORRECTION = re.compile(
    r"\b(undo|go back|i meant|meant to (say|put)|change what i (wrote|said|put))\b"
    r"|\d+ not \d+|\bnot \d+ but\b"
    r"|\b(scratch|redo|rewrite|delete|erase|cancel) (my |the |that )?(last|previous) (answer|one)\b"
    r"|\b(ought to|needs to|has to) be (a |an )?(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b"
    r"|\bchange (my|the) (\w+ )?(answer|number|score|rating) to (a )?(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b"
    r"|\bwrong (\w+ )?(number|answer|score|one|option|button)\b|\b(should|supposed to) (have been|be) (a |an )?(\d+|zero|one|two|three|four|five|six|seven|eight|nine|ten)\b"
)
#: Questions about the service are recognised even in a free-text answer, when asked as questions.
_ASKED = {
    "bot_question",
    "privacy",
    "data_delete",
    "data_export",
    "human",
    "medical_question",
    "help",
    "review",
}
_RATHER = re.compile(
    r"\b(i'?d rather|id rather|would rather|rather just|prefer to|(can|could|may) i (just|simply|switch|change)|let me just)\b"
)
#: "nothing to add", "nope, not today": no note (recorded as skipped where the prompt allows).
_NOTHING = re.compile(
    r"^(no|nope|nah|not really|nothing|none|n/?a|all good)?( thanks| thank you)?[ ,]*(nothing|none|not really)?"
    r"( (else|more|much|really|at all|to add|to note|to say|to report|to share|today|for today|this time|thanks|thank you))*"
    r"([ ,]+(pass|skip|skip it|next))?$"
)
#: A command asked for ("can I ...", "could we ...", "let me ..."), however long the reason after it.
_REQUEST = re.compile(
    r"^(ok |okay |sorry |hmm |um |actually |wait )?(can|could|may|shall) (i|we)\b|^let me\b|^i'?(d|ll) (like to )?"
)
#: "hold on can we pause, i need to think ...": a request anywhere in the message (round 8).
_PLAIN_ASK = re.compile(
    r"\b(can|could|may|shall) (we|i|you) (pause|stop|skip|go back|come back|finish|get back|return)\b"
    r"|\b(pausing|pause) (this|it)\b|^give me a (sec|second|minute|moment)\b"
)
_SHOW_ME = re.compile(
    r"\b(show|give|let) me\b|\?\s*$|^(can|could) you\b|\bcan i (see|read|look)\b|\bwhat did i (write|say|put)\b"
)
#: ... or asked after a reason: "i need to hop off, let's finish this later".
_ASKED_AFTER = re.compile(r"[,.;!?]\s*(ok |so )?(let'?s|lets|can (i|we)|could (i|we)|may i|shall we)\b")
#: A short "not now" in a free-text prompt: the questions wait (a plain "no" is an answer there).
_DEFER = re.compile(
    r"^(maybe |perhaps |ok |no |nah )?(later|not now|not right now|not yet|another time|some other time"
    r"|maybe tomorrow|can'?t (right )?now|not at the moment|no time( right)?( now)?|not a good time|bad time)"
    r"( please| thanks| sorry)?$"
)
_BYE = re.compile(
    r"\b(bye|goodbye|good night|goodnight|gn|nite|night|ttyl|see you|see ya|cya|talk later|take care)\b"
)


def behaviour_in_prompt(prompt: Prompt, text: str, intent: str = "", confidence: float = 0.0) -> str:
    """What a message sent while `prompt` is open asks for: "answer", or a command such as
    "pause", "stop_today", "skip", "correct", "review", "privacy" (see actions/checkin.py).

    Literal commands win over answers; a number word inside a sentence that is not an answer is
    never the answer; in a free-text prompt only a short command (or a question about the
    service) is a command, so a journal line that mentions pausing stays an answer.
    """
    from bot.understanding import could_decline, is_emoji_only, literal, normalize, yes_no

    raw = (text or "").strip()
    if not raw or raw.startswith("/"):
        return "answer"  # empty (asked again) or a button payload
    if is_emoji_only(raw):
        return "emoji_only"
    if is_skip(raw):
        return "answer"  # the parser records the skip (or explains why it cannot)
    if parse_reminder_command(raw) is not None:
        return "reminder"
    n = len(normalize(raw).split())
    found = literal(raw, max_words=16)
    if prompt.type == "text":
        if found == "note_therapist":
            return found  # a note for the therapist: passed on, or the note prompt (actions/checkin.py)
        if found == "journal" and _RATHER.search(normalize(raw)):
            return found  # "actually i'd rather just write freely instead of the questions"
        if found in ("start_checkin", "questionnaire") and prompt.key == "entry":
            return found  # journaling, and they would rather do something else
        if found == "correct" and _STRONG_CORRECTION.search(raw.lower()):
            return found
        if prompt.skippable and _NOTHING.match(normalize(raw)):
            return "skip"  # "nope nothing to add": no note today, not a note saying so
        if found == "review" and not (_REQUEST.match(normalize(raw)) or _SHOW_ME.search(normalize(raw))):
            return "answer"  # "read over my integration notes again tonight, they helped" is a note
        if found in ("pause", "stop_today", "skip", "correct") and (
            _REQUEST.match(normalize(raw))
            or _ASKED_AFTER.search(raw.lower())
            or _PLAIN_ASK.search(normalize(raw))
        ):
            return found  # "can i come back to this in a bit? need to think": asked, not written
        if found in ("start_checkin", "resume") and _PLAIN_ASK.search(normalize(raw)):
            return found  # "ok done venting, can we go back to the check in I paused earlier"
        if found in ("start_checkin", "resume") and n <= 6 and prompt.key != "entry":
            return found  # "let's keep going" is not the note: the note is asked again
        if found is None and n <= 6 and _DEFER.search(normalize(raw)):
            return "pause"  # "maybe later", "can't right now": come back to it
        if found in (None, "note_therapist", "start_checkin", "resume"):
            mapped = INTENT_BEHAVIOURS.get(intent)
            if raw.rstrip().endswith("?") and n <= 14 and mapped in _ASKED and confidence >= 0.8:
                return mapped
            return "answer"
        if n > 8 and found not in _ASKED and found != "thanks_bye":
            return "answer"  # (thanks_bye matches a whole sign-off only: "that's all for now, thank you")
    elif found == "help" and answer_after_question(raw) and parse_answer(prompt, raw, max_chars=100_000).ok:
        return "answer"  # "sorry is 10 the worst? then 8": asked, then answered (round 18)
    elif found in (None, "greet", "thanks_bye") and parse_answer(prompt, raw, max_chars=100_000).ok:
        return "answer"  # "hi, 7" or "7 thanks": the number is the answer
    elif found is None:
        if parse_answer(prompt, raw, max_chars=100_000).ok:
            return "answer"
        mapped = INTENT_BEHAVIOURS.get(intent)
        if mapped and confidence >= 0.7 and (mapped not in ("pause", "stop_today") or could_decline(raw)):
            found = mapped
        elif prompt.type != "yes_no" and yes_no(raw) == "no":
            return "no"
        else:
            return "answer"  # the parser gives the hint
    if found == "thanks_bye":
        return "bye" if _BYE.search(normalize(raw)) else "thanks"
    if found == "yes" and prompt.type == "yes_no":
        return "answer"
    return found or "answer"
