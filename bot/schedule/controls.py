"""What a patient can say about reminders, read literally: "remind me in an hour", "not today",
"stop reminders", "turn reminders back on", "change my check-in time to 8pm".

Used inside a check-in (where it pauses the questions, answers kept) and outside one (after
the classifier picked the `manage_reminders` intent). Literal on purpose: a journal line that
merely mentions reminders must not change the schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from bot.schedule.plan import PlanError, parse_hhmm

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "a couple of": 2, "couple of": 2}
_UNIT = {"minute": 1, "min": 1, "hour": 60, "hr": 60}
_RESUME = re.compile(
    r"\b(turn|switch|put)\s+(the\s+|my\s+)?(reminders?|notifications?)\s+(back\s+)?on\b"
    r"|\b(notifications?|reminders?)\s+(back\s+)?on\s+again\b|\bstart\s+reminding\s+me\s+again\b"
    r"|\b(reactivate|re-?enable|enable|turn\s+on|switch\s+on)\s+(the\s+|my\s+)?(reminders?|notifications?)\b"
    r"|\b(resume|restart|start|unpause|unmute)\s+(the\s+|my\s+)?(daily\s+)?(reminders?|notifications?)(\s+again)?\b"
    r"|\bstart\s+sending\s+(me\s+)?(the\s+)?(reminders?|notifications?|nudges?)\b|\b(miss|want)\b.*\b(reminders?|nudges?|notifications?)\b.*\b(come\s+back|back\s+on)\b"
    r"|\b(resume|restart|start|unpause|unmute)\s+(the\s+|my\s+)?reminders?\b"
    r"|\breminders?\s+(back\s+)?on\b"
    r"|\b(reminders?|notifications?|nudges?|daily\s+messages)\s+back\b|\bsend\s+(me\s+)?(the\s+)?(daily\s+)?(reminders?|notifications?|nudges?)\s+again\b"
    r"|\b(remind|nudge|message)\s+me\s+again\s+(every\s*day|daily|each\s+day|from\s+now\s+on)\b"
)
_STOP = re.compile(
    # Round 16: "I'd prefer not to get any more reminders, thank you."
    r"\b(prefer|rather|like)\s+not\s+(to\s+)?(get|receive|have|be\s+sent)\s+(any\s+)?(more\s+)?(daily\s+)?(reminders?|notifications?|nudges?)\b(?!\s+(of|about|from|for)\b)"
    r"|\b(don'?t|do\s+not)\s+(want|need|wish)\s+to\s+(get|receive)\s+(any\s+)?(more\s+)?(daily\s+)?(reminders?|notifications?|nudges?)\b(?!\s+(of|about|from|for)\b)|"
    r"\b(stop|pause|turn\s+off|switch\s+off|mute|disable|no\s+more|don'?t\s+send(\s+me)?)\s+"
    r"(sending\s+(me\s+)?)?(the\s+|my\s+|any\s+|all\s+|these\s+)?(daily\s+|morning\s+|evening\s+)?(reminders?|notifications?|check[\s-]?in\s+reminders?)\b"
    r"|\b(don'?t|do\s+not)\s+want\s+(any\s+|the\s+)?(more\s+)?(of\s+)?(these\s+|the\s+)?(daily\s+)?(reminders?|notifications?)\b"
    r"|\bstop\s+all\s+(the\s+|my\s+)?(reminders?|notifications?)\b"
    r"|\b(discontinue|cancel|end|stop)\s+(the\s+|my\s+|all\s+)?(daily\s+)?(reminder|check[\s-]?in)\s+(messages|texts|notifications)\b"
    r"|\bstop\s+(messaging|texting|pinging|reminding|nagging)\s+me\b|\bunsubscribe\b"
    r"|\b(stop|cancel|end|turn\s+off|switch\s+off|pause|mute|disable)\s+(the\s+|my\s+|these\s+|all\s+(the\s+)?)?(daily\s+|morning\s+|evening\s+)?(messages|texts|pings|nudges|alerts)\b"
    r"|\b(no|don'?t\s+want\s+(any\s+)?)\s*(more\s+)?(daily\s+)?(reminders?|notifications?|nudges?)\s+(any\s?more|at\s+all|please|thanks)\b"
)
_NOT_TODAY = re.compile(
    r"^(not\s+today|skip\s+today('?s)?(\s+check[\s-]?in)?|no\s+check[\s-]?ins?\s+today)$"
    r"|\b(no|any)\s+more\s+(check[\s-]?ins?|reminders?|check[\s-]?in\s+messages|messages|questions|notifications)\s+today\b"
    r"|\bno\s+more\s+(asking|pings?|nudges?)\s+today\b|^no\s+more\s+today\b|^not\s+today\b(?=.{0,30}$)|\bskip\s+today'?s\s+(reminders?|check[\s-]?ins?)\b"
    r"|\bskip\s+(the\s+)?(reminders?|check[\s-]?ins?)(\s+today|\s+for\s+today)?\b.*\btoday\b|\bim\s+off\s+today\b.*\bskip\b"
    r"|\b(rest\s+of\s+the\s+)?day\s+off\s+from\s+(all\s+)?(this|you|reminders?|check[\s-]?ins?)\b"
    # Round 16: "can you not ask me again today?"
    r"|\b(can|could|would|will)\s+(you|u)\s+not\s+(ask|remind|message|ping|bother|text|nudge)\s+me\s+(again\s+)?(today|tonight)\b"
    r"|\bnot\s+today\b.*\b(till|til|until)\s+tomorrow\b|\bdon'?t\s+(ask|remind|message)\s+me\s+again\s+(till|til|until)\s+tomorrow\b"
    # Learnt from paraphrase families: any way of saying "none today" / "done with today".
    r"|\b(not|no|won'?t|don'?t|not\s+going\s+to)\s+(\w+\s+){0,2}(doing\s+|do\s+)?(a\s+|the\s+|any\s+)?check[\s-]?ins?\s+(today|tonight)\b"
    r"|\b(don'?t|do\s+not)\s+(remind|ask|message|ping|bother|bug|nudge|text|pester)\s+me\s+(again\s+|any\s?more\s+)?(today|tonight|for\s+the\s+rest\s+of\s+(the\s+day|today))\b"
    # round 18: "just today, leave me alone, back tomorrow"
    r"|^(please\s+|pls\s+|just\s+)?leave\s+me\s+(alone|be)\b.*\b(today|tonight)\b|^(just\s+)?(for\s+)?(today|tonight)\b.{0,3}\s*(please\s+)?leave\s+me\s+(alone|be)\b"
    r"|^((no|not\s+today)\W+(and\s+)?)?(please\s+)?(don'?t|do\s+not)\s+ask\s+(me\s+)?again\s+(today|tonight)\b"
    r"|\btake\s+(today|the\s+day)\s+off\b|^(nothing|none)\s+(else\s+|more\s+)?today\b(?!.*\bskip\b)|\bskip\s+(today|the\s+day)\b"
    r"|\bno\s+(more\s+)?(reminders?|check[\s-]?ins?|messages|questions|notifications)\s+(for\s+)?(the\s+)?rest\s+of\s+(the\s+day|today)\b"
    r"|\b(i'?m|im|i\s+am)\s+(done|finished)\s+(with\s+)?(check[\s-]?ins?|reminders?)\s+(for\s+)?today\b"
    # Round 7: "don't send me any more today, I'll finish tomorrow".
    r"|\b(don'?t|do\s+not)\s+(send|ask|remind|message|ping|text|bother)\s+(me\s+)?(anything\s+|any\s+)?(more|else)\s+today\b"
    r"|^today\s+no([.!]?$|[ ,.!]+(more|too\s+busy|busy|thanks|please|pls|sorry|tomorrow|check))"
    r"|\bgive\s+(today|it|this)\s+a\s+miss\b"
    r"|\bno\s+(more|further)\s+(reminders?|check[\s-]?ins?|messages|pings?|nudges?)\s+today\b"
    r"|\b(prefer|rather|like)\s+not\s+to\s+be\s+(asked|reminded|messaged|bothered|pinged)\s+(again\s+)?today\b"
    r"|\b(don'?t|do\s+not)\s+bother\s+me\b.*\btoday\b"
    r"|\b(don'?t|do\s+not)\s+(send|give)\s+(me\s+)?(any\s+)?(more|further|other)?\s*([\w-]+\s+){0,2}(reminders?|messages|check[\s-]?ins?|pings?)\s+today\b"
)
_LATER = re.compile(
    # "remind me in an hour", "remind me about this in an hour please" (round 6)
    r"\b(remind|remid|rmind|remnd|ask|message|ping|nudge|text|check\s+on)\s+me\s+(((this|that|it)\s+)?again\s+|about\s+(this|it|that)\s+|(this|that|it)\s+|to\s+\w+(\s+(it|this|that|the\s+rest))?\s+)?(in|after)\s+(like\s+|about\s+|maybe\s+)?"
    r"(?P<n>\d+|an?|one|two|three|four|(a\s+)?couple(\s+of)?|half\s+an)\s+(?P<unit>minute|min|hour|hr)s?\b"
)
#: A time with a scheduling cue that needs no mention of check-ins ("every day at 8pm").
_CUED_TIME = re.compile(
    # Not "not every day ... like 2 or 3 times" (a PHQ-9 answer, round 7): the cue is not negated,
    # and the time follows at/to/for/around or is a clock time (am/pm, hh:mm).
    r"(?<!not\s)\b(every\s*day|daily|each\s+day|every\s+(morning|evening|night)|(change|move|set|switch|make)\s+(it|that|them|the\s+time)\s+to)"
    r"\b.*?(\b(at|to|for|around)\s*(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?)|\s(?P<t2>\d{1,2}(:\d{2}\s*(am|pm)?|\s*(am|pm|a\.m\.|p\.m\.))))(?![\d:])"
)
#: "make it 8am", "move it to 19:30": a clock time (am/pm or hh:mm) is never a 0-10 rating.
_MAKE_IT_TIME = re.compile(
    r"\b(make|change|move|set|switch|put)\s+(it|that|them|the\s+time|mine|the\s+reminders?)\s+(to\s+|for\s+|at\s+)?"
    r"(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)|\d{1,2}:\d{2})(?![\d:])"
)
#: In reminder talk (the bot just spoke about reminder times) a bare time is enough.
_BARE_TIME = re.compile(
    r"(?:^|\b(?:at|to|around|about|like|make\s+it|^(?:can|could)\s+(?:it|that|they)\s+be)\s+|,\s*)(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?)(?:ish)?(?![\d:])"
    r"(?!\s*(min|mins|minutes|hours?|hrs?|days?|weeks?))"
)
_LATER_TO = re.compile(
    r"\b(remind|ask|message|ping)\s+me\s+to\s+\w+(\s+\w+){0,3}\s+(in|after)\s+"
    r"(?P<n>\d+|an?|one|two|three|four|(a\s+)?couple\s+of|half\s+an)\s+(?P<unit>minute|min|hour|hr)s?\b"
)
#: The things patients call reminders.
_NOUN = (
    r"(reminders?|notifications?|pings?|nudges?|alerts?|reminder\s+(messages|texts)|check[\s-]?in\s+(reminders?|messages|texts|pings)"
    r"|daily\s+(ones|messages|texts|reminders?|pings|nudges))"
)
#: Learnt from blind rounds 6-7: any words between a reminder noun and "back on", "again",
#: "resumed" ("switch them back on", "can I have the reminders again pls", "start the daily
#: ones again"), unless the sentence turns them down.
_RESUME_GENERAL = re.compile(
    rf"\b{_NOUN}\b.*\b(back\s+on|on\s+again|again|resumed?|restarted|re-?enabled|turned\s+(back\s+)?on)\b"
    rf"|\b(resume|restart|re-?enable|reactivate|unpause|unmute|bring\s+back|turn\s+on|switch\s+on)\b.*\b{_NOUN}\b"
)
_RESUME_THEM = re.compile(r"\b(them|those|the\s+daily\s+ones)\b.*\b(back\s+on|on\s+again|again)\b")
_ASKING = re.compile(
    r"\b(can|could|would|will|please|pls|plz|want|wanna|like|i'?d|start|turn|switch|put|have|get|resume|bring|miss|need|yes|let'?s)\b"
)
_TURNED_DOWN = re.compile(rf"\b(don'?t|do\s+not|dont|never|no\s+more)\b(\s+\w+){{0,4}}?\s+{_NOUN}\b")
_STRONG_RESUME = re.compile(r"\b(back\s+on|on\s+again|resumed?|turned\s+back\s+on)\b")
_STOP_GENERAL = re.compile(
    rf"\b(stop|pause|mute|silence|disable|cancel|turn\s+off|switch\s+off|shut\s+off|get\s+rid\s+of|opt\s+out\s+of|unsubscribe\s+from|no\s+more)\b(\s+\w+){{0,3}}?\s+{_NOUN}\b"
    # "turn the reminders off altogether", "stop sending these every day" (round 8-9)
    rf"|\b(turn|switch|shut)\s+(the\s+|my\s+|these\s+|all\s+(the\s+)?)?(daily\s+)?{_NOUN}\s+off\b"
    r"|\bstop\s+sending\s+(me\s+)?(these|those|them)\b"
    rf"|\b{_NOUN}\s+to\s+stop\b|\bnot\s+send\s+(me\s+)?(any\s+)?{_NOUN}"
    # Round 11: "please don't send any more", "I'd rather not get them at all".
    r"|\b(don'?t|do\s+not)\s+send\s+(me\s+)?(any\s?more|any\s+more\s+of\s+(these|them)|these|them)\s*$"
    r"|\b(rather\s+not|don'?t\s+want\s+to|do\s+not\s+want\s+to)\s+(get|receive|have)\s+(them|these|any)(\s+\w+)?\s+(at\s+all|any\s?more)\b"
)
#: In reminder talk, "them" are the reminders: "switch them on again".
_THEM_ON = re.compile(r"\b(turn|switch|put)\s+(them|those|it)\s+(back\s+)?on\b")
_THEM_OFF = re.compile(
    r"\bmake\s+(them|it|those)\s+stop\b|\bstop\s+(them|those)\s+(entirely|altogether|completely|for\s+good)\b|"
    r"\b(turn|switch|shut)\s+(them|those|it)\s+off\b|\b(stop|pause|mute|cancel|disable)\s+(sending\s+(me\s+)?)?(them|those)\b"
)
#: "remind me around 6 to finish it": one reminder later today, not a new daily time.
_ONE_OFF = re.compile(
    r"\bto\s+(finish|do|complete|answer|continue)\b|\b(today|tonight|this\s+(afternoon|evening)|later|once\s+more|again)\b"
)
_DAILY_CUE = re.compile(
    r"\b(every|daily|each|usual|from\s+now\s+on|change|set|move|switch|instead|always|time\s+to)\b"
)
_EVENING = re.compile(
    r"\b(at\s+night|in\s+the\s+evenings?|evenings|tonight|in\s+the\s+afternoons?|afternoons|after\s+(lunch|dinner|work))\b"
)
_NOON = re.compile(r"\b(noon|midday)\b")
_BARE_LATER = re.compile(
    r"^(later\s+(maybe\s+)?)?(give\s+me\s+)?(in\s+)?(like\s+|about\s+)?(?P<n>\d+|an?|one|two|three|half\s+an)\s+(?P<unit>minute|min|hour|hr)s?$"
)
_TIME = re.compile(
    r"\b(check[\s-]?ins?|reminders?|remind\s+me|message\s+me|ask\s+me)\b.*?\b(at|to|for|around)\s+"
    r"(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?)(?![\d:])"
)
#: A clock time or a delay: "remind me again at 8" sets a time, it does not resume.
_TIMEISH = re.compile(
    r"\b\d{1,2}(:\d{2})?\s*(am|pm)?\b|\bin\s+(an?|one|two|half)\s+\w+|\b(tonight|later|tomorrow)\b"
)
#: "can you change to ask me 9am every day" (round 12): a clock time with am/pm and a daily cue.
_CLOCK_AMPM = re.compile(r"\b(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.))(?![\d:])")
#: "can you send these at 8pm instead of the morning" (round 9).
_SEND_AT = re.compile(
    r"\b(send|sending|move|do|have|get)\s+(these|them|those|it|the\s+(messages|reminders?|check[\s-]?ins?|pings))\s+"
    r"(at|around|for|to)\s+(?P<t>\d{1,2}(:\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?)(?![\d:])"
)
_DAILY = re.compile(r"\b(every\s*day|daily|each\s+day|every\s+evening|every\s+morning|every\s+night)\b")
#: "remind me later" without a time: an hour.
DEFAULT_DELAY = timedelta(hours=1)


@dataclass(frozen=True)
class ReminderCommand:
    kind: str  # postpone | skip_today | stop | resume | set_time
    delay: timedelta | None = None
    at: time | None = None
    daily: bool | None = None


def _text(text: str) -> str:
    return " ".join(text.strip().lower().replace("\u2019", "'").rstrip(".!?,").split())


_CLOCK_NAMES = "one two three four five six seven eight nine ten eleven twelve".split()
_CLOCK_WORDS = {word: n for n, word in enumerate(_CLOCK_NAMES, 1)}
_CLOCK_N = r"(\d{1,2}|" + "|".join(_CLOCK_NAMES) + ")"


def _clock_words(s: str) -> str:
    """ "half past six", "half nine" (UK), "quarter to eight", "seven pm" as clock times (round 8-9)."""

    def n(word: str) -> int:
        return int(word) if word.isdigit() else _CLOCK_WORDS[word]

    s = re.sub(rf"\bhalf\s+past\s+{_CLOCK_N}\b", lambda m: f"{n(m.group(1))}:30", s)
    s = re.sub(rf"\bquarter\s+past\s+{_CLOCK_N}\b", lambda m: f"{n(m.group(1))}:15", s)
    s = re.sub(rf"\bquarter\s+to\s+{_CLOCK_N}\b", lambda m: f"{(n(m.group(1)) - 2) % 12 + 1}:45", s)
    s = re.sub(rf"\bhalf\s+{_CLOCK_N}\b(?!\s+(hour|hours|an|a))", lambda m: f"{n(m.group(1))}:30", s)
    s = re.sub(
        r"\b(at|around|about)\s+(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b(?!\s+(hours?|minutes?|mins?|days?))",
        lambda m: f"{m.group(1)} {_CLOCK_WORDS[m.group(2)]}",
        s,
    )
    s = re.sub(r"\b(say|around|about|at)?\s*(\d{1,2})\s*o'?clock\b", lambda m: f" at {m.group(2)}:00", s)
    s = re.sub(
        r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s*(am|pm|o'?clock)\b",
        lambda m: f"{_CLOCK_WORDS[m.group(1)]}{'' if m.group(2).startswith('o') else m.group(2)}",
        s,
    )
    return s


def parse_reminder_command(text: str, *, in_reminder_talk: bool = False) -> ReminderCommand | None:
    """The reminder command in `text`, or None if it is not one. `in_reminder_talk`: the bot
    just spoke about reminders, so a bare "10pm" or "in 30 mins" is an answer about them."""
    s = _clock_words(_text(text))
    if not s or len(s) > 120:  # a long entry is an entry, not a command
        return None
    if _RESUME.search(s) or (in_reminder_talk and _THEM_ON.search(s)):
        return ReminderCommand("resume")
    if not _TIMEISH.search(s) and (
        (_RESUME_GENERAL.search(s) or (in_reminder_talk and _RESUME_THEM.search(s)))
        and _ASKING.search(s)
        and not re.search(r"\bhow\s+(do|can|would)\s+i\b", s)
        and not _TURNED_DOWN.search(s)
        and (_STRONG_RESUME.search(s) or not (_STOP.search(s) or _STOP_GENERAL.search(s)))
    ):
        return ReminderCommand("resume")
    if _NOT_TODAY.search(s) or (in_reminder_talk and re.match(r"^(not|none|no check[\s-]?ins?) today\b", s)):
        return ReminderCommand("skip_today")  # in reminder talk, "not today though, I'll be out all day"
    if _STOP.search(s) or _STOP_GENERAL.search(s) or (in_reminder_talk and _THEM_OFF.search(s)):
        return ReminderCommand("stop")
    if _NOON.search(s) and (
        in_reminder_talk or re.search(r"\b(check[\s-]?ins?|reminders?|remind\s+me|every\s*day|daily)\b", s)
    ):
        return ReminderCommand("set_time", at=time(12, 0), daily=True if _DAILY.search(s) else None)
    m = (
        _SEND_AT.search(s)
        or (_CLOCK_AMPM.search(s) if _DAILY.search(s) else None)
        or _TIME.search(s)
        or _CUED_TIME.search(s)
        or _MAKE_IT_TIME.search(s)
        or (_BARE_TIME.search(s) if in_reminder_talk else None)
    )
    if m:
        try:
            at = parse_hhmm((m.group("t") or m.groupdict().get("t2") or "").replace(".", ""), "time")
        except PlanError:
            at = None
        if at is not None and at.hour < 12 and _EVENING.search(s) and not re.search(r"\b(am|a\.m\.)\b", s):
            at = at.replace(hour=at.hour + 12)  # "9 at night"
        if at is not None and re.match(r"^not\s+(right\s+)?now\b", s) and not _DAILY_CUE.search(s):
            return ReminderCommand("postpone", at=at)  # "not right now, can you ask me at 8?": once
        if (
            at is not None
            and re.match(r"^(remind|ask|ping|message|nudge)\s+me\b", s)
            and _ONE_OFF.search(s)
            and not _DAILY_CUE.search(s)
        ):
            return ReminderCommand("postpone", at=at)  # once, at that time today
        if at is not None:
            return ReminderCommand("set_time", at=at, daily=True if _DAILY.search(s) else None)
    # "in an hour" as the whole message is a postponement anywhere; "remind me to finish it in two hours"
    bare = re.sub(r"[\s,]+(please|pls|plz|thanks|thank\s+you|thx|ta|then|ok)$", "", s.rstrip("?! ."))
    bare = re.sub(r"^(later|not\s+now)\s*(please|pls|plz)?[\s,]+", "later ", bare)  # "later pls, maybe 2 hrs"
    bare_later = _BARE_LATER.match(bare)
    if bare_later and not in_reminder_talk and not re.match(r"(later|give|in)\b", bare):
        # "7 hours" or "about 3 hours" alone answers "how many hours did you sleep?"; only "in 3
        # hours", "later, 2 hours" or a reply to reminder talk is a postponement (a patient's
        # try: the sleep answer paused the check-in and lost the note after it).
        bare_later = None
    m = _LATER.search(s) or bare_later or _LATER_TO.search(s)
    if m:
        n_text = m.group("n")
        if n_text == "half an":
            minutes = 30
        else:
            fallback = 2 if "couple" in n_text else 1
            n = int(n_text) if n_text.isdigit() else _NUMBERS.get(" ".join(n_text.split()), fallback)
            minutes = n * _UNIT[m.group("unit")]
        return ReminderCommand("postpone", delay=timedelta(minutes=max(5, min(minutes, 12 * 60))))
    if re.search(
        r"^(maybe\s+)?later\s+(today|tonight|on|this\s+(evening|afternoon))(\s+(please|pls|thanks))?$"
        r"|\b(check\s+in(\s+with\s+me)?|try\s+me|come\s+back\s+to\s+me|get\s+back\s+to\s+me|ask\s+me|ping\s+me|nudge\s+me|message\s+me|text\s+me)"
        r"(\s+again|\s+once\s+more|\s+one\s+more\s+time)?\s+(later(\s+(today|tonight|on))?|this\s+(evening|afternoon)|tonight|in\s+a\s+(bit|while|little\s+while)|after\s+(dinner|lunch|work|school))\b"
        r"|\b(remind|ping|nudge)\s+(me\s+)?(once\s+more|one\s+more\s+time|again)\s+(later|this\s+(afternoon|evening)|tonight)\b"
        # round 18: "remind me to do this in the evening pls"
        r"|^(please\s+|pls\s+|can\s+you\s+|could\s+you\s+)?(remind|ping|nudge|ask)\s+me\s+(to\s+(do|finish|fill\s+in|complete|answer)\s+(this|it|the\s+rest|them|the\s+(check[\s-]?in|questions|questionnaire))\s+|about\s+(this|it)\s+)?(later|tonight|in\s+the\s+(evening|afternoon)|this\s+(evening|afternoon))\b",
        s,
    ):
        return ReminderCommand("postpone", delay=DEFAULT_DELAY)
    if s in ("in a bit", "in a while", "in a little while", "give me a bit", "a bit later", "bit later"):
        return ReminderCommand("postpone", delay=DEFAULT_DELAY)
    if s in ("remind me later", "remind me in a bit", "ask me later", "check in with me later") or re.search(
        r"\b(remind|ask|ping|message)\s+(me|u)\s+(again\s+)?(later|after\s+\w+|tonight|this\s+evening|in\s+a\s+(bit|while))\b"
        r"|\bremind\s+me\s+to\s+\w+(\s+\w+)?\s+(later|tonight)\b|\b(can|could)\s+(u|you)\s+(ping|remind|ask)\s+me\s+(later|after)\b"
        # Round 6: "remind me to finish it after dinner", "remind me about it after work".
        r"|\b(remind|ping|nudge|ask)\s+me\s+(to\s+\w+(\s+(it|this|that|the\s+rest))?|about\s+(it|this|that))\s+(after|once|when)\s+\w+",
        s,
    ):
        return ReminderCommand("postpone", delay=DEFAULT_DELAY)
    return None


def time_until(at: time, now: datetime, tz: tzinfo) -> timedelta:
    """How long until the next `at` today (a morning hour already past means the afternoon one:
    "remind me around 6" at noon is 18:00); tomorrow if both have passed."""
    local = now.astimezone(tz)
    for day in (0, 1):
        for hour in (at.hour, at.hour + 12) if at.hour < 12 else (at.hour,):
            when = (local + timedelta(days=day)).replace(hour=hour, minute=at.minute, second=0, microsecond=0)
            if when > local:
                return when - local
    return timedelta(hours=1)
