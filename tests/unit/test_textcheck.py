"""Inbound text checks (bot/channels/textcheck.py): normalising, caps, the bounded risk check.

Property-based (Hypothesis) where the input space is the point: any text a client can send."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels import textcheck
from bot.channels.inbound import BUTTON_INTENT, sanitize
from bot.channels.textcheck import HARD_CAP, Inbound, check, condense, normalise
from bot.safety.assessment import SEVERITIES, at_least, rank
from bot.store.errors import MAX_TEXT_CHARS

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Any code point, lone surrogates and control characters included.
ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
RISKY = ["I want to kill myself tonight", "i'm going to end my life", "I have pills saved up to overdose"]


def run(coro):
    return asyncio.run(coro)


@SETTINGS
@given(ANY_TEXT)
def test_normalised_text_is_always_encodable_and_free_of_control_characters(text):
    out = normalise(text)
    out.encode("utf-8")  # never raises: no lone surrogates survive
    assert all(ch in "\t\n" or ord(ch) >= 0x20 for ch in out)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in out)
    assert normalise(out) == out  # idempotent


@SETTINGS
@given(st.text(max_size=300).filter(lambda t: "\r" not in t))
def test_valid_printable_text_is_left_alone(text):
    printable = "".join(
        ch for ch in text if ch in "\t\n" or (ord(ch) >= 0x20 and not 0x7F <= ord(ch) <= 0x9F)
    )
    printable = printable.replace("\ufffe", "").replace("\uffff", "")
    assert normalise(printable) == printable


def test_lone_surrogates_become_replacement_characters_and_pairs_are_joined():
    assert normalise("a\ud800b") == "a\ufffdb"
    assert normalise("\udfff") == "\ufffd"
    assert normalise("\ud83d\ude00") == "\U0001f600"  # a pair written as two escapes
    assert normalise("nul\x00 bell\x07 ok\r\nline") == "nul bell ok\nline"


@SETTINGS
@given(
    st.one_of(
        ANY_TEXT,
        st.none(),
        st.integers(),
        st.lists(st.text(max_size=3)),
        st.dictionaries(st.text(), st.text()),
    )
)
def test_check_never_raises_and_hands_on_only_valid_bounded_text(raw):
    inbound = run(check(raw, "moderate"))
    assert isinstance(inbound, Inbound)
    if not isinstance(raw, str):
        assert inbound.refused == "not_text"
        return
    if inbound.refused is None:
        inbound.text.encode("utf-8")
        assert inbound.text.strip() and len(inbound.text) <= MAX_TEXT_CHARS


@SETTINGS
@given(st.text(max_size=200), st.text(max_size=200), st.sampled_from(RISKY))
def test_risky_words_are_never_dropped_by_any_surrounding_text(before, after, phrase):
    # Separated by blank lines, as a patient's own paragraph would be.
    inbound = run(check(f"{before}\n\n{phrase}.\n\n{after}", "moderate"))
    assert inbound.risky and inbound.refused is None


@pytest.mark.parametrize("phrase", RISKY)
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_an_over_long_risky_text_is_handed_on_as_its_risky_passages(phrase, where, monkeypatch):
    # What is handed on is under test here, not the time bound: on a loaded machine the bound
    # can pass first, and then (rightly) the text counts as risky without its passages.
    monkeypatch.setattr(textcheck, "ASSESS_SECONDS", 600.0)
    filler = "Today I walked by the river and the light was soft on the water. " * 1500  # ~98,000
    cut = int(len(filler) * where)
    text = filler[:cut] + " " + phrase + ". " + filler[cut:]
    inbound = run(check(text, "moderate"))
    assert inbound.risky and inbound.condensed and inbound.refused is None
    assert phrase in inbound.text and len(inbound.text) <= textcheck.CONDENSED_CHARS
    # What Rasa will see is still risky on its own, so the safety path runs there too.
    assert at_least(textcheck.assess(inbound.text).severity, "moderate")


def test_an_over_long_ordinary_text_is_refused_and_beyond_the_hard_cap_is_never_read():
    inbound = run(check("calm day. " * 3000, "moderate"))
    assert inbound.refused == "too_long" and not inbound.risky
    # Risky words past the hard cap are not read at all (that is what the cap is for).
    tail = run(check("a" * HARD_CAP + " I want to kill myself", "moderate"))
    assert tail.refused == "too_long"


def test_condense_merges_overlapping_windows():
    text = "x" * 1000 + " I want to kill myself and end my life " + "y" * 1000
    assessment = textcheck.assess(text)
    out = condense(text, assessment)
    assert out.count("kill myself") == 1 and "…" not in out


def test_a_long_assessment_runs_off_the_event_loop():
    """While a ~98,000-character text is assessed, the loop keeps answering other work."""

    async def scenario():
        ticks = 0
        done = asyncio.Event()

        async def other_patient():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        other = asyncio.create_task(other_patient())
        started = time.perf_counter()
        inbound = await check("Today I walked by the river and the light was soft. " * 1900, "moderate")
        took = time.perf_counter() - started
        done.set()
        await other
        return inbound, ticks, took

    inbound, ticks, took = asyncio.run(scenario())
    assert inbound.refused == "too_long"
    # Blocking the loop would give 1 tick; off the loop it runs about every 10 ms meanwhile.
    assert ticks >= 5, f"the event loop was held for {took:.2f} s"
    print(f"assessed {MAX_TEXT_CHARS:,}+ chars in {took:.2f} s; the loop ran {ticks} times meanwhile")


def test_an_assessment_past_its_time_bound_counts_as_risky(monkeypatch):
    def slow(text):
        time.sleep(0.3)
        return textcheck.Assessment()

    monkeypatch.setattr(textcheck, "assess", slow)
    monkeypatch.setattr(textcheck, "ASSESS_SECONDS", 0.2)
    inbound = run(check("a calm and ordinary day. " * 400, "moderate"))
    assert inbound.risky  # a slow detector must never cost crisis resources


SENTENCES = [
    "Today I walked by the river.",
    "I don't want to kill myself.",
    "I want to kill myself tonight.",
    "My friend said she wanted to die last year.",
    "I have been saving pills.",
    "The session felt like ego death, in a good way.",
    "I feel hopeless and I can't go on.",
    "I'm killing it at work.",
    "Tonight I will end it.",
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SENTENCES), min_size=60, max_size=160), st.sampled_from([" ", "\n", "  "]))
def test_windowed_assessment_is_never_milder_than_the_whole_text(sentences, sep):
    text = sep.join(sentences)
    whole = textcheck.assess(text)
    windowed = run(textcheck.assess_long(text))
    assert rank(windowed.severity) >= rank(whole.severity), (whole.severity, windowed.severity)
    for hit in windowed.rules:  # offsets point into the whole text
        assert 0 <= hit.start < hit.end <= len(text)


@SETTINGS
@given(ANY_TEXT)
def test_sanitize_never_lets_a_patient_send_an_unlisted_command(text):
    out = sanitize(normalise(text))
    assert not out.strip().startswith("/") or BUTTON_INTENT.match(out.strip())


def test_severities_are_known():
    assert SEVERITIES[0] == "none"


class _CountingDetector:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def assess(self, text: str):  # type: ignore[no-untyped-def]
        from bot.safety.assessment import Assessment

        self.calls.append(text)
        return Assessment()


def test_one_request_assesses_a_text_once_and_other_requests_do_not_share_it(monkeypatch):
    """The channel's check and the NLU component read the same message in one request: the
    detector runs once for it. Another request (task) with the same text assesses it itself,
    and another text in the same request is assessed anew."""
    from bot.safety import service

    fake = _CountingDetector()
    monkeypatch.setattr(service, "default_detector", lambda: fake)

    async def one_request(text: str) -> None:
        first = service.assess_in_request(text)
        assert service.assess_in_request(text) is first
        service.assess_in_request(text + " and more")

    async def two_patients() -> None:
        await asyncio.gather(one_request("I feel fine"), one_request("I feel fine"))

    run(two_patients())
    assert sorted(fake.calls) == [
        "I feel fine",
        "I feel fine",
        "I feel fine and more",
        "I feel fine and more",
    ]


def test_the_remembered_assessment_is_dropped_once_used(monkeypatch):
    from bot.safety import service

    fake = _CountingDetector()
    monkeypatch.setattr(service, "default_detector", lambda: fake)

    async def one_request() -> None:
        service.assess_in_request("a calm evening")
        service.forget_assessed()  # what the NLU component does after reading it
        service.assess_in_request("a calm evening")

    run(one_request())
    assert fake.calls == ["a calm evening", "a calm evening"]
