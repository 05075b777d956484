"""Reading what patients type: literal commands, number words, corrections, reminder talk, locale."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.prompts.answers import behaviour_in_prompt, parse_answer, parse_correction, parse_scale
from bot.prompts.sets import default_catalogue
from bot.safety.resources import locale_for
from bot.schedule.controls import parse_reminder_command, time_until
from bot.understanding import core, is_emoji_only, is_long_entry, literal, normalize, note_content, yes_no

DAILY = default_catalogue().get("daily")
MOOD, ANXIETY, SLEEP, NOTE = DAILY.prompts
ITEM = default_catalogue().get("phq9").prompts[0]


@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("can we pause?", "pause"),
        ("pasue", "pause"),
        ("go back?", "correct"),
        ("go bakc", "correct"),
        ("skip?", "skip"),
        ("skip this one pls", "skip"),
        ("ok can we carry on please", "resume"),
        ("r u a bot", "bot_question"),
        ("who reads this?", "privacy"),
        ("please delete all my data", "data_delete"),
        ("can I get a copy of my entries", "data_export"),
        ("can I talk to a real person", "human"),
        ("🙂👍", "emoji_only"),
        ("thanks!", "thanks_bye"),
        ("hello there", "greet"),
    ],
)
def test_literal_commands_tolerate_punctuation_politeness_and_typos(text: str, behaviour: str) -> None:
    assert literal(text) == behaviour


@pytest.mark.parametrize(
    "text",
    [
        "i want to pause more in my day, that was the main takeaway",
        "i skipped breakfast and still felt calm, which is new for me",
        "one step at a time",
    ],
)
def test_a_journal_line_that_mentions_a_command_stays_an_answer(text: str) -> None:
    assert behaviour_in_prompt(NOTE, text) == "answer"


def test_a_number_word_inside_a_refusal_is_not_the_answer() -> None:
    assert parse_scale("it's been one of those days") is None
    assert behaviour_in_prompt(MOOD, "I'd rather not say, it's been one of those days") == "skip"
    assert parse_scale("about a seven") == 7 and parse_scale("seven") == 7
    assert parse_scale("talked to my sister for the first time in 4 months") is None


def test_corrections_name_the_new_number() -> None:
    assert parse_correction(MOOD, "sorry I meant 6 not 4") == 6
    assert parse_correction(MOOD, "should be seven, not five") == 7
    assert parse_correction(MOOD, "change it from 4 to 6") == 6
    assert parse_correction(ITEM, "oops that was supposed to be 'several days' not 'nearly every day'") == 1
    assert behaviour_in_prompt(ANXIETY, "actually make that a 6 not a 4") == "correct"


def test_typed_yes_and_no() -> None:
    assert yes_no("yes I agree 👍") == "yes" and yes_no("sure why not") == "yes"
    assert yes_no("not rn") == "no" and yes_no("can i think about it first") == "no"
    assert yes_no("what is this") is None


def test_emoji_and_long_entries() -> None:
    assert is_emoji_only("😔😔") and not is_emoji_only("7\ufe0f\u20e3") and not is_emoji_only("ok 🙂")
    assert is_long_entry("Today was strange. " * 10) and not is_long_entry("a calm day")


def test_reminder_talk() -> None:
    assert parse_reminder_command("every day at 8pm").at.hour == 20
    assert parse_reminder_command("no more reminders today pls").kind == "skip_today"
    assert parse_reminder_command("10pm") is None
    assert parse_reminder_command("10pm", in_reminder_talk=True).at.hour == 22
    assert parse_reminder_command("i woke up at 8am and felt fine") is None


def test_locale_follows_the_time_zone_then_the_clinic() -> None:
    assert locale_for("Europe/London") == "en-GB"
    assert locale_for("UTC", "IE") == "en-IE"
    assert locale_for("UTC") == "en-US"


# Paraphrase families (round 4): the shape of a request, whatever its subject words and tails.
@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("not now please", "pause"),
        ("let's stop here", "stop_today"),
        ("I'm finished", "stop_today"),
        ("ok let's leave it there for today", "stop_today"),
        ("I want my account deleted", "data_delete"),
        ("how do I get my data deleted", "data_delete"),
        ("can I export these for my GP?", "data_export"),
        ("review my entries", "review"),
        ("show me last week's entries", "review"),
        ("what happens to my data", "privacy"),
        ("does my clinic see my journal entries straight away?", "privacy"),
        ("I want a human", "human"),
        ("is someone actually reading this", "bot_question"),
        ("can I take ibuprofen with ketamine?", "medical_question"),
        ("can I skip my antidepressant before the session?", "medical_question"),
        ("where were we?", "resume"),
        ("ready now", "resume"),
        ("can i start another check-in", "start_checkin"),
        ("ok thanks, talk later", "thanks_bye"),
        ("what should I type?", "help"),
        ("does 10 mean the worst?", "help"),
        ("can I change the reminder time myself?", "help"),
        ("I typed the wrong mood this morning, can I fix it", "correct"),
        ("forward this to my therapist please", "note_therapist"),
    ],
)
def test_paraphrase_families(text: str, behaviour: str) -> None:
    assert literal(text) == behaviour


def test_no_thanks_turns_down_and_real_words_are_not_typos() -> None:
    assert literal("no thanks") is None and yes_no("no thanks") == "no"
    assert normalize("stop here") == "stop here"  # not "stop where"
    assert core("not now please") == "not now" and core("pause now please") == "pause"


def test_more_ways_to_say_yes_and_not_now() -> None:
    for text in ("fire away", "go on then", "let's get started", "alright, I'm up for it"):
        assert yes_no(text) == "yes", text
    for text in ("can't right now", "I'll pass for now", "not really in the mood", "can i say no for now"):
        assert yes_no(text) == "no", text


def test_free_text_prompt_reads_skips_deferrals_and_asked_commands() -> None:
    assert behaviour_in_prompt(NOTE, "nope nothing to add") == "skip"
    assert behaviour_in_prompt(NOTE, "nothing much happened but I felt calm walking home") == "answer"
    assert behaviour_in_prompt(NOTE, "maybe later") == "pause"
    assert behaviour_in_prompt(NOTE, "let's keep going") == "resume"
    assert (
        behaviour_in_prompt(NOTE, "could we stop here, I'm too tired to write anything today") == "stop_today"
    )
    assert behaviour_in_prompt(NOTE, "oops wrong mood number, it should be 6") == "correct"
    assert behaviour_in_prompt(ANXIETY, "does 0 mean calm or the worst?") == "help"


def test_number_words_and_frequency_words() -> None:
    assert parse_scale("zero honestly, pretty calm") == 0 and parse_scale("two actually") == 2
    assert parse_scale("one of those days honestly") is None
    assert parse_answer(ITEM, "less than half the days I'd say", max_chars=100).value == 1


def test_reminder_families() -> None:
    assert parse_reminder_command("stop sending me the daily reminders please").kind == "stop"
    assert parse_reminder_command("take today off").kind == "skip_today"
    assert parse_reminder_command("not doing a check-in today").kind == "skip_today"
    assert parse_reminder_command("please don't bug me again today").kind == "skip_today"
    assert parse_reminder_command("turn them off") is None
    assert parse_reminder_command("turn them off", in_reminder_talk=True).kind == "stop"
    assert parse_reminder_command("I want the reminders back").kind == "resume"
    assert parse_reminder_command("make it 8am instead").at.hour == 8
    once = parse_reminder_command("remind me at 7 to finish it")
    assert once.kind == "postpone" and once.at.hour == 7
    assert parse_reminder_command("remind me at 7 every evening").kind == "set_time"
    assert parse_reminder_command("can you check in later tonight").kind == "postpone"


def test_time_until_a_one_off_reminder() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert time_until(time(18, 0), now, UTC) == timedelta(hours=6)
    assert time_until(time(6, 0), now, UTC) == timedelta(hours=6)  # "around 6" at noon: 18:00
    assert time_until(time(11, 0), now, UTC) == timedelta(hours=11)  # 23:00


def test_round_3_rescored_lessons() -> None:
    assert literal("can we stop here and pick this back up tomorrow") == "pause"
    assert literal("can we stop here for today") == "stop_today"
    assert literal("what's the difference between several days and more than half?") == "help"
    assert literal("should i skip my sertraline the morning of a session?") == "medical_question"
    assert behaviour_in_prompt(NOTE, "i need to hop off, let's finish this later") == "pause"
    assert behaviour_in_prompt(NOTE, "scratch my last answer, i want to rewrite it") == "correct"
    assert (
        behaviour_in_prompt(NOTE, "we walked for hours, then stopped at a cafe and talked till late")
        == "answer"
    )
    assert parse_reminder_command("in a bit").kind == "postpone"
    assert parse_reminder_command("just stop sending them altogether", in_reminder_talk=True).kind == "stop"


@pytest.mark.parametrize(
    "text, kind",
    [
        ("btw i turned reminders off last month, can you switch them back on", "resume"),
        ("can I have the reminders again pls, I forget without them", "resume"),
        ("Yes, I would like the reminders resumed, thank you.", "resume"),
        ("honestly can you just stop with these reminders", "stop"),
        ("is there a way to stop all these pings, I'll message when I want", "stop"),
        ("stop sending the reminders again", "stop"),
        ("don't send me any more today, I'll finish tomorrow", "skip_today"),
        ("remind me to finish it after dinner", "postpone"),
        ("remind me about this in an hour please", "postpone"),
        ("the reminders were nice again this week, they help", None),
        ("my reminders keep coming back even though i stopped them", None),
    ],
)
def test_round_6_7_reminder_shapes(text: str, kind: str | None) -> None:
    """Blind rounds 6-7 (scored untuned first): any words between a reminder noun and "back
    on"/"again", a stop verb before any reminder noun; a remark about reminders is no command."""
    command = parse_reminder_command(text)
    assert (command.kind if command else None) == kind


@pytest.mark.parametrize(
    "text, behaviour",
    [
        ("can we pick this up another time, not in the headspace rn", "pause"),
        ("can i stop here and carry on tonight? got a meeting", "pause"),
        ("Sorry, I made a mistake on the previous question. Could I change my answer to 5?", "correct"),
        ("how many more questions are there in this?", "help"),
        ("what can I actually do in here besides check ins", "help"),
        ("can this bit go to my therapist? I want to bring it up on monday", "note_therapist"),
        ("thank you, that's me done, goodnight", "thanks_bye"),
        ("I made a mistake at work today and felt awful about it for hours", None),
        ("carry on", "resume"),
    ],
)
def test_round_6_7_families(text: str, behaviour: str | None) -> None:
    assert literal(text, max_words=16) == behaviour


def test_a_note_that_comes_with_the_request_is_the_note() -> None:
    assert note_content("can you pass this on to Sarah: I'd like to talk about my dad next session") == (
        "I'd like to talk about my dad next session"
    )
    assert note_content("leave a note for my therapist that the new routine is helping")
    assert note_content("can I leave a note for my therapist?") is None
    assert note_content("i told my therapist that i was scared") is None  # not a request


def test_a_note_request_in_any_free_text_prompt_is_not_the_answer() -> None:
    daily = default_catalogue().get("daily")
    note = next(p for p in daily.prompts if p.key == "note")
    assert behaviour_in_prompt(note, "can you pass a note to dr patel that i want to talk about sleep") == (
        "note_therapist"
    )


def test_a_sign_off_or_a_delete_request_while_journaling_is_not_the_entry() -> None:
    entry = default_catalogue().get("journal").prompts[0]
    assert behaviour_in_prompt(entry, "ok that's all for now, thank you for listening") == "thanks"
    assert behaviour_in_prompt(entry, "can you delete what I just wrote and everything from before") == (
        "data_delete"
    )
    assert behaviour_in_prompt(entry, "thanks to my sister the day was much better than I expected") == (
        "answer"
    )


def test_round_5_rescored_lessons() -> None:
    """Round 5 re-scored after rounds 6-7 (dev): a question before consenting is not consent, and
    the shapes of its other misses."""
    assert yes_no("before i say yes who exactly reads this? just my therapist or other ppl too") is None
    assert literal("before i say yes who exactly reads this?", max_words=16) == "privacy"
    assert literal("will my therapist be able to read everything I type here?", max_words=16) == "privacy"
    assert literal("is 0 the calm end or the anxious end?", max_words=16) == "help"
    assert literal("what does my mum mean by that", max_words=16) is None
    assert literal("I'm done for today, I don't want to continue", max_words=16) == "stop_today"
    assert literal("ok can we go on with the questions", max_words=16) == "resume"
    assert parse_scale("hmm between 6 and 7, call it 6") == 6 and parse_scale("6 or 7") is None
    phq = default_catalogue().get("phq9").prompts[1]
    assert parse_answer(phq, "almost all the days, yes", max_chars=100).value == 3
    assert parse_reminder_command("some days yes, not every day. like 2 or 3 times") is None
    assert parse_reminder_command("not today though, I'll be out all day", in_reminder_talk=True).kind == (
        "skip_today"
    )


@pytest.mark.parametrize(
    "text, talk, kind, at",
    [
        ("could they come at half past six in the evening instead?", True, "set_time", time(18, 30)),
        ("id prefer evenings, like half nine", True, "set_time", time(21, 30)),
        ("every day at half 6 pls", False, "set_time", time(6, 30)),
        ("can you send these at 8pm instead of the morning", False, "set_time", time(20, 0)),
        ("how do I make them stop entirely", True, "stop", None),
        ("I'd like to turn the reminders off altogether", False, "stop", None),
        ("can you stop sending these every day", False, "stop", None),
        ("give today a miss please", True, "skip_today", None),
        ("I turned reminders off a while ago but I'd like them back on please", False, "resume", None),
    ],
)
def test_round_8_9_reminder_shapes(text: str, talk: bool, kind: str, at: time | None) -> None:
    """Blind rounds 8-9 (scored untuned first): clock words, 'send these at', 'turn ... off'."""
    command = parse_reminder_command(text, in_reminder_talk=talk)
    assert command is not None and command.kind == kind and (at is None or command.at == at)


@pytest.mark.parametrize(
    "text, behaviour",
    [
        ("please this is for my therapist: I want to talk about my father next session", "note_therapist"),
        ("wait before i write can you show me my last couple entries", "review"),
        ("ok perfect, thank you! bye", "thanks_bye"),
        ("no check in now.", "pause"),
        ("no I dont want to do the check in right now", "pause"),
        ("how do I get back to it later, what do I type", "help"),
        ("how do I get everything I've written erased", "data_delete"),
        ("changed my mind, give me the check-in instead. less typing", "start_checkin"),
        ("Would it be alright if I skipped this particular question?", "skip"),
        ("I skipped breakfast and had a big lunch", None),
    ],
)
def test_round_8_9_families(text: str, behaviour: str | None) -> None:
    assert literal(text, max_words=16) == behaviour


def test_round_8_9_answers_and_free_text() -> None:
    phq = default_catalogue().get("phq9").prompts[1]
    assert parse_answer(phq, "nah not really. none", max_chars=100).value == 0
    assert parse_answer(phq, "sevral days", max_chars=100).value == 1
    assert parse_answer(phq, "pretty much every single day", max_chars=100).value == 3
    note = next(p for p in default_catalogue().get("daily").prompts if p.key == "note")
    long_fix = "Before I write anything, I think I gave the wrong number for my mood. It ought to be 6."
    assert behaviour_in_prompt(note, long_fix) == "correct"
    on_the_bus = "hold on can we pause, i need to think about what to write and i'm on the bus"
    assert behaviour_in_prompt(note, on_the_bus) == "pause"
    assert behaviour_in_prompt(note, "read over my integration notes again tonight, they helped") == "answer"


@pytest.mark.parametrize(
    "text, talk, kind",
    [
        ("Please don't send me any further check-in reminders today, I have guests.", False, "skip_today"),
        ("not now but can you move these to 7am instead, mornings are easier", False, "set_time"),
        ("can you do the reminders at seven in the evening every day", True, "set_time"),
        ("remind me in a couple hours, out in the field", True, "postpone"),
        ("can you ask me this in like an hour? I'm mid meeting", False, "postpone"),
        ("honestly I'd rather not get them at all", False, "stop"),
        ("Please don't send any more.", True, "stop"),
        ("meet at seven for dinner", False, None),
    ],
)
def test_round_10_11_reminder_shapes(text: str, talk: bool, kind: str | None) -> None:
    """Blind rounds 10-11 (scored untuned first)."""
    command = parse_reminder_command(text, in_reminder_talk=talk)
    assert (command.kind if command else None) == kind


@pytest.mark.parametrize(
    "text, behaviour",
    [
        ("no questions today if you don't mind. Could I simply jot a few thoughts down instead?", "journal"),
        ("ok back lets finish it", "resume"),
        ("back pain again today", None),
        ("back", "correct"),
        ("Forget the rest today.", "stop_today"),
        ("Actually, let's do a proper check-in instead.", "start_checkin"),
        ("For Dr Hayes only: want to discuss reducing sessions.", "note_therapist"),
        ("how do i change it then", "help"),
        ("am I texting a bot right now lol", "bot_question"),
        ("do the reminders show what I wrote on the lock screen?", "privacy"),
        ("I don't want to finish the questions but I'd like to just write something", "journal"),
        ("should I take my propranolol if it's high?", "medical_question"),
    ],
)
def test_round_10_11_families(text: str, behaviour: str | None) -> None:
    assert literal(text, max_words=16) == behaviour


def test_round_10_11_answers_and_acknowledgements() -> None:
    assert yes_no("Those look right.") == "yes"
    phq = default_catalogue().get("phq9").prompts[1]
    assert parse_answer(phq, "more days than not", max_chars=100).value == 2
    note = next(p for p in default_catalogue().get("daily").prompts if p.key == "note")
    assert behaviour_in_prompt(note, "what did I write yesterday? want to compare") == "review"
    assert behaviour_in_prompt(note, "wait I want to change my anxiety number to 5 actually") == "correct"
    assert behaviour_in_prompt(note, "could I just write freely instead of a one-liner?") == "journal"


@pytest.mark.parametrize(
    "text, talk, kind",
    [
        ("can you change to ask me 9am every day", False, "set_time"),
        ("Today no, too busy at work. Tomorrow ok", False, "skip_today"),
        ("today no rain, sunny walk", False, None),
        ("I would like the reminders to stop entirely.", False, "stop"),
        ("could it be after lunch, say 1 o'clock?", True, "set_time"),
        ("can u just not send reminders at all", True, "stop"),
        ("I would prefer not to be asked again today", False, "skip_today"),
        ("remid me to finish it in 2 hours?", False, "postpone"),
    ],
)
def test_round_12_13_reminder_shapes(text: str, talk: bool, kind: str | None) -> None:
    """Blind rounds 12-13 (scored untuned first)."""
    command = parse_reminder_command(text, in_reminder_talk=talk)
    assert (command.kind if command else None) == kind
    if text.startswith("could it be after lunch"):
        assert command.at == time(13, 0)


@pytest.mark.parametrize(
    "text, behaviour",
    [
        ("I not understand, I write number or words?", "help"),
        ("i don't understand why my sister did that", None),
        ("how many of these are there left? and what happens with the score?", "help"),
        ("hold on, can we stop here and come back to it", "pause"),
        ("is an actual human reading this or is it just the bot", "bot_question"),
        ("I want all of this erased. Every entry.", "data_delete"),
        ("Assalam o alaikum", "greet"),
        ("give me a sec, pausing this, will come back", "pause"),
    ],
)
def test_round_12_13_families(text: str, behaviour: str | None) -> None:
    assert literal(text, max_words=16) == behaviour


def test_round_12_13_answers() -> None:
    assert yes_no("I don't think I'd like to, dear. No.") == "no"
    phq = default_catalogue().get("phq9").prompts[1]
    assert parse_answer(phq, "sev days", max_chars=100).value == 1
    assert parse_answer(phq, "pas du tout honestly", max_chars=100).value == 0
    entry = default_catalogue().get("journal").prompts[0]
    venting = "ok done venting, can we go back to the check in I paused earlier"
    assert behaviour_in_prompt(entry, venting) == "resume"


@pytest.mark.parametrize(
    "text, behaviour",
    [
        ("What does a check-in involve? I'm not sure what I'm meant to do.", "help"),
        ("pause pls, bus stop now", "pause"),
        ("can we pause, my stop is next", "pause"),
        ("the bus stop was cold", None),
        ("Thank you, I'll come back to it another time. Bye for now.", "thanks_bye"),
        ("Before I continue: please flag to my therapist that I started new meds.", "note_therapist"),
        ("done, thx bye", "thanks_bye"),
        ("thanks, laters", "thanks_bye"),
        ("you are real person or program?", "bot_question"),
        ("can I do this with my therapist in person instead", "human"),
        ("how do I get everything I've sent you wiped?", "data_delete"),
    ],
)
def test_round_14_15_families(text: str, behaviour: str | None) -> None:
    """Blind rounds 14-15 (scored untuned first)."""
    assert literal(text, max_words=16) == behaviour


def test_round_14_15_answers_and_reminders() -> None:
    assert yes_no("I'll pass on this, thanks. Not agreeing at this stage.") == "no"
    phq = default_catalogue().get("phq9").prompts[1]
    assert parse_answer(phq, "honestly like a handful of days", max_chars=100).value == 1
    assert parse_reminder_command("No further reminders today, thank you.").kind == "skip_today"
    once = parse_reminder_command("not right now, can you ask me at 8?")
    assert once.kind == "postpone" and once.at == time(8, 0)


def test_the_classifier_needs_a_yes_no_or_a_decline_word() -> None:
    """After thirteen blind rounds of NLU data DIET read "hmm let me see" as deny (0.83) and
    "honestly the morning was rough" as not_now (0.89); without a word a yes, a no or a "not now"
    is made of, the classifier's reading is not taken."""
    from bot.understanding import could_be_yes_no, could_decline

    assert not could_be_yes_no("hmm let me see") and could_be_yes_no("nah not for me")
    assert not could_decline("honestly the morning was rough") and could_decline("gotta run, bus is here")
    mood = default_catalogue().get("daily").prompts[0]
    assert behaviour_in_prompt(mood, "honestly the morning was rough", "not_now", 0.89) == "answer"
    assert behaviour_in_prompt(mood, "gotta run, bus is here", "not_now", 0.89) == "pause"


@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("I want to add a new entry now", "journal"),
        ("also I want my old entries deleted", "data_delete"),
        ("does 'the last 2 weeks' include today? not sure how I'm meant to answer these", "help"),
        ("what am i meant to answer here", "help"),
        ("sorry before I write anything - the anxiety one was meant to be 5, not 2", "correct"),
        ("cheers for this, really helpful. bye for now", "thanks_bye"),
        ("is there a nurse or someone I could message instead? just have a few things to ask", "human"),
        ("random q - can I take ibuprofen for the headache after treatment", "medical_question"),
        # still not commands
        ("I'm meant to be resting today", None),
        ("no thanks", None),
        ("really good day today", None),
    ],
)
def test_round_16_17_families(text: str, behaviour: str | None) -> None:
    """Blind rounds 16-17 (scored untuned first)."""
    assert literal(text, max_words=16) == behaviour


def test_round_16_17_consent_and_reminders() -> None:
    assert yes_no("alright, i'm in. go ahead") == "yes"
    assert yes_no("I'm in bed") is None and yes_no("i'm in pain") is None
    assert parse_reminder_command("in 30 min pls").delay == timedelta(minutes=30)
    assert parse_reminder_command("I'd prefer not to get any more reminders, thank you.").kind == "stop"
    assert parse_reminder_command("i dont get any reminders") is None  # a complaint, not a request
    not_today = parse_reminder_command("Can you not ask me again today? I'm having a day off from all this.")
    assert not_today.kind == "skip_today"
    assert parse_reminder_command("nothing today, skip") is None  # in a text prompt: the skip
    note = default_catalogue().get("daily").prompts[-1]
    assert behaviour_in_prompt(note, "nothing today, skip") in ("answer", "skip")


@pytest.mark.parametrize(
    ("text", "behaviour"),
    [
        ("dont really want to answer that one, next", "skip"),
        (
            "Can you pass something on to my therapist? I want to talk about my dad next session.",
            "note_therapist",
        ),
        ("can you make sure Dr Patel sees this before Tuesday", "note_therapist"),
        (
            "not for the check-in but can you tell Sarah I want to talk about my dad next session",
            "note_therapist",
        ),
        ("I can't do this questionnaire today, let's end it", "stop_today"),
        ("I don't want to do the rest today", "stop_today"),
        ("not going to finish today, sorry", "stop_today"),
        ("does this save automatically or do I need to press something", "help"),
        ("show me just the journal ones", "review"),
        ("done, bye x", "thanks_bye"),
        # still not commands
        ("can you tell if I am getting better", None),
        ("I want my son to make sure he sees this", None),
    ],
)
def test_round_18_19_families(text: str, behaviour: str | None) -> None:
    """Blind rounds 18-19 (scored untuned first)."""
    assert literal(text, max_words=16) == behaviour


def test_round_18_19_answers_consent_and_reminders() -> None:
    anxiety = default_catalogue().get("daily").prompts[1]
    phq = default_catalogue().get("phq9").prompts[1]
    assert (
        parse_answer(anxiety, "seven out of ten, been restless since the session", max_chars=100).value == 7
    )
    assert behaviour_in_prompt(anxiety, "sorry is 10 the worst? then 8") == "answer"
    assert parse_answer(anxiety, "sorry is 10 the worst? then 8", max_chars=100).value == 8
    assert behaviour_in_prompt(anxiety, "what do the numbers mean? is 0 good") == "help"  # two questions
    assert parse_answer(phq, "Option 1 please", max_chars=100).value == 1
    assert parse_answer(phq, "somewhere between 1 and 2... go with 2", max_chars=100).value == 2
    assert not parse_answer(phq, "I slept 2 hours", max_chars=100).ok
    assert behaviour_in_prompt(phq, "what counts as nearly every day? is it 5 days") == "help"
    assert yes_no("yep no problem 👍") == "yes" and yes_no("no problem") == "yes"
    assert yes_no("nah no worries") == "no"
    assert parse_reminder_command("can it be half 10", in_reminder_talk=True).at == time(10, 30)
    assert parse_reminder_command("later pls, maybe 2 hrs").delay == timedelta(hours=2)
    assert parse_reminder_command("no and don't ask again today please").kind == "skip_today"
    assert parse_reminder_command("just today, leave me alone 😅 back tomorrow").kind == "skip_today"
    assert parse_reminder_command("remind me to do this in the evening pls").kind == "postpone"
    assert parse_reminder_command("leave me alone") is None


@pytest.mark.parametrize(
    "text",
    [
        "my old messages got deleted when I changed phones",
        "I can't get through this today",
        "I want to stop this",
        "I want to end things",
        "I need someone I can talk to",
        "my sister is someone I can call",
        "really good day today, thank you",
        "cheers for everything today, really nice, bye",
    ],
)
def test_review_false_positives_of_the_learnt_families_stay_ordinary(text: str) -> None:
    """A second reader's review of rounds 16-19's families: sentences that must stay what they are."""
    assert literal(text, max_words=16) is None


def test_review_false_positives_in_yes_no_answers_and_reminders() -> None:
    for refusal in ("no worries, I'll decide later", "no worries, leave it", "no problem, forget it"):
        assert yes_no(refusal) != "yes", refusal
    assert yes_no("no problem but who can read my answers?") is None
    assert yes_no("look at the state I'm in") is None and yes_no("you can't just go ahead") is None
    phq = default_catalogue().get("phq9").prompts[1]
    for count in ("2 nights", "3 in the last fortnight", "about 3 of the 14 days", "my 1 friend noticed"):
        assert not parse_answer(phq, count, max_chars=100).ok, count
    anxiety = default_catalogue().get("daily").prompts[1]
    assert parse_answer(anxiety, "7? maybe less", max_chars=100).value == 7
    for said in (
        "my partner said leave me alone today and it hurt",
        "I told my ex don't text tonight",
        "I'd prefer not to receive any more reminders of the accident",
        "I don't want to get any more notifications from work, they stress me out",
        "my therapist will ask me about it later",
        "remind me to take my meds tonight",
        "maybe 6 hours",
    ):
        assert parse_reminder_command(said) is None, said
    assert parse_reminder_command("would that be 10 or 11?", in_reminder_talk=True) is None


def test_not_today_and_do_not_ask_again() -> None:
    assert parse_reminder_command("Not today, and don't ask again today please.").kind == "skip_today"
