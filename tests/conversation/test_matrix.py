"""The behaviour-by-state matrix (README.md) over the real stack: one shared stack, a fresh
patient per cell. The first block is the issue's findings, each of which failed before the fix.

Some phrasings are avoided on purpose: the risk detector's semantic layer (the safety work) takes
"not now" at consent, "not urgent" and some calm journal paragraphs down the safety path, which
is right to do first and is not what these cells test (see README.md, round figures)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

FOUND_IN_ISSUE = [
    # typed yes/no right after consent, at the check-in offer
    ("yes", "start_checkin", "checkin_offer"),
    ("no", "decline_checkin", "checkin_offer"),
    ("yes I agree", "consent_yes", "consent"),
    # literal commands with a question mark, politeness, typos
    ("can we pause?", "pause", "prompt_number"),
    ("go back?", "correct", "prompt_number"),
    ("skip?", "skip", "prompt_number"),
    ("skip this one pls", "skip", "prompt_text"),
    ("go bakc", "correct", "prompt_text"),
    # a refusal with a number word is not the answer
    ("I'd rather not say, it's been one of those days", "skip", "prompt_number"),
    # write freely is the journal, not the PHQ-9
    ("can I just write freely without questions", "journal", "idle"),
    # carry on resumes instead of reading back
    ("can we carry on with the check-in", "resume", "paused"),
    # corrections naming both numbers
    ("sorry I meant 6 not 4", "correct", "prompt_number"),
    # long free text outside a check-in is kept as an entry
    (
        "Today was a good one. I walked to the river after work and sat there for an hour, which I "
        "haven't done in years. I made soup for dinner and called my sister afterwards. Work was busy "
        "but I kept my lunch break. I want to remember how ordinary and calm it felt.",
        "long_entry",
        "idle",
    ),
    # emoji only: a gentle prompt, not a goodbye
    ("🙂", "emoji_only", "idle"),
    ("👍", "emoji_only", "prompt_text"),
    # the missing behaviours
    ("are you a bot?", "bot_question", "idle"),
    ("who can read my entries?", "privacy", "checkin_offer"),
    ("please delete my data", "data_delete", "idle"),
    ("can you send me a copy of my entries", "data_export", "review"),
    ("delete all my data", "data_delete", "prompt_number"),
    ("can I talk to a real person", "human", "idle"),
]

CELLS = [
    ("hello", "greet", "paused"),
    ("hi", "greet", "prompt_number"),
    ("no thanks", "consent_no", "consent"),
    ("are you a real person?", "bot_question", "consent"),
    ("let's do it", "start_checkin", "checkin_offer"),
    ("about a seven", "answer", "prompt_number"),
    ("not at all", "answer", "prompt_questionnaire"),
    ("I noticed I was kinder to myself today", "answer", "prompt_text"),
    ("skip", "skip", "prompt_questionnaire"),
    ("pause", "pause", "prompt_questionnaire"),
    ("let's stop here for today", "stop_today", "prompt_text"),
    ("stop for today", "stop_today", "paused"),
    ("show me what I wrote", "review", "prompt_number"),
    ("I want to journal", "journal", "prompt_number"),
    ("message for my therapist", "note_therapist", "idle"),
    ("can I do the PHQ-9", "questionnaire", "idle"),
    ("check in with me every day at 8pm", "reminder_set_time", "idle"),
    ("9pm", "reminder_set_time", "reminder_talk"),
    ("remind me in an hour", "reminder_later", "checkin_offer"),
    ("not today", "reminder_not_today", "reminder_talk"),
    ("stop reminders", "reminder_stop", "prompt_text"),
    ("turn reminders back on", "reminder_resume", "idle"),
    ("could my therapist phone me sometime?", "human", "prompt_text"),
    ("is this private?", "privacy", "prompt_number"),
    ("should I take my medication before the session?", "medical_question", "idle"),
    ("what can you do", "help", "idle"),
    ("thanks", "thanks_bye", "idle"),
    ("bye for now", "thanks_bye", "prompt_number"),
    ("yes", "consent_yes", "consent"),
    ("skip", "pause", "handoff"),
    ("are you a bot?", "bot_question", "handoff"),
]


#: Learnt from blind round 4 (paraphrases of its families, not its lines).
ROUND4_CELLS = [
    ("nothing to add thanks", "skip", "prompt_text"),
    ("maybe later", "decline_checkin", "prompt_text"),
    ("can't right now", "decline_checkin", "paused"),
    ("no more check-ins today", "reminder_not_today", "prompt_number"),
    ("take today off", "reminder_not_today", "idle"),
    ("switch them off", "reminder_stop", "reminder_talk"),
    ("remind me at 7 to finish it", "reminder_later", "paused"),
    ("the mood one was wrong, it should be 3", "correct", "prompt_text"),
    ("I typed the wrong mood this morning, can I fix it", "correct", "idle"),
    ("zero honestly", "answer", "prompt_number"),
    ("does 10 mean the worst?", "help", "prompt_number"),
    ("where were we?", "resume", "paused"),
]


#: Learnt from blind rounds 6 and 7 (paraphrases of their families, not their lines).
ROUND67_CELLS = [
    ("could you put the reminders back on for me", "reminder_resume", "journal"),
    ("i'd like my pings again please", "reminder_resume", "reminder_talk"),
    ("please just stop with the pings", "reminder_stop", "idle"),
    ("yep that works for me", "answer", "reminder_talk"),
    ("please tell my therapist that the new evening routine is helping", "note_therapist", "prompt_text"),
    ("can this go to my therapist?", "note_therapist", "journal"),
    ("could we pick this up another time", "pause", "prompt_questionnaire"),
    ("remind me about it in two hours", "reminder_later", "prompt_questionnaire"),
    ("leave a note for my therapist please", "note_therapist", "paused"),
]


#: Learnt from blind rounds 16 and 17 (paraphrases of their families, not their lines).
ROUND1617_CELLS = [
    ("yeah ok, count me in", "consent_yes", "consent"),
    ("in 20 mins please", "reminder_later", "reminder_talk"),
    ("I'd rather not get reminders any more, thanks", "reminder_stop", "reminder_talk"),
    ("quick question: can I have a glass of wine the night after a session?", "medical_question", "journal"),
    ("could I add another journal entry", "journal", "review"),
    ("thanks a lot, really useful. bye for now", "thanks_bye", "prompt_text"),
    ("not sure how I'm supposed to answer these, does it include today?", "help", "prompt_questionnaire"),
]


#: Learnt from blind rounds 18 and 19 (paraphrases of their families, not their lines).
ROUND1819_CELLS = [
    ("sure, no problem", "consent_yes", "consent"),
    ("does 0 mean calm? ok then 2", "answer", "prompt_number"),
    ("option 3 I guess", "answer", "prompt_questionnaire"),
    ("could you make sure my therapist sees this one", "note_therapist", "journal"),
    ("let's just end it here", "stop_today", "prompt_questionnaire"),
    ("can it be half 8", "reminder_set_time", "reminder_talk"),
    ("please don't ask again today", "reminder_not_today", "checkin_offer"),
]


# Session 8, a helper trying the product as a new patient: "7 hours" to the sleep question
# was read as "remind me in 7 hours", paused the check-in and lost the note after it.
TRY8_CELLS = [
    ("7 hours", "answer", "prompt_hours"),
    ("about 3 hours", "answer", "prompt_hours"),
    ("like 3 hours", "answer", "prompt_hours"),
]
ALL_CELLS = (
    FOUND_IN_ISSUE + CELLS + ROUND4_CELLS + ROUND67_CELLS + ROUND1617_CELLS + ROUND1819_CELLS + TRY8_CELLS
)


@pytest.mark.parametrize(("text", "behaviour", "state"), ALL_CELLS)
def test_cell(harness, text: str, behaviour: str, state: str) -> None:
    ok, why, reply = harness.judge(text, behaviour, state)
    assert ok, f"{behaviour} @ {state}: {why}; the bot said: {reply[:300]!r}"
