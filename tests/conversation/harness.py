"""Judge a patient's utterance by what the real stack does with it, in the state it is said in.

For each (text, behaviour, state): a fresh enrolled patient is brought into the state by a
scripted prefix over the `local` channel, the text is sent, and the outcome (replies, Rasa's
slots, what the database holds) is checked against the behaviour's expected outcome, the
matrix in tests/conversation/README.md.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.runtime import Store

RISK_MODERATE = "honestly everyone would be better off without me"

#: The scripted prefix per state (payloads where the words do not matter, so a prefix never
#: depends on the classifier it is testing).
PREFIXES: dict[str, list[str]] = {
    "idle": ["hi", "/not_now"],
    "consent": ["hi"],
    "checkin_offer": ["hi"],
    "prompt_number": ["hi", "/start_checkin", "5"],  # mood 5 answered; anxiety 0-10 asked
    "prompt_hours": ["hi", "/start_checkin", "5", "3"],  # "how many hours did you sleep?" asked
    "prompt_text": ["hi", "/start_checkin", "5", "3", "7"],  # the free-text note asked
    "prompt_questionnaire": ["hi", "/start_questionnaire", "1"],  # PHQ-9 item 2 asked
    "paused": ["hi", "/start_checkin", "5", "pause"],
    "journal": ["hi", "/free_journal"],
    "review": ["hi", "/start_checkin", "5", "3", "7", "a calm day", "/review_entries"],
    "reminder_talk": ["hi", "/not_now", "/manage_reminders"],
    "handoff": ["hi", RISK_MODERATE],
}
STATES = list(PREFIXES)
CHECKIN_STATES = {"prompt_number", "prompt_hours", "prompt_text", "prompt_questionnaire", "journal"}
OUTSIDE_STATES = {"idle", "checkin_offer", "paused", "review", "reminder_talk"}

# Markers of the replies (wording lives in domain.yml; these are its stable phrases).
DEFAULT = "I'm not sure I understood"
GOODBYE = "Take care. I'm here whenever"
MARKERS = {
    "bot_question": ["automated"],
    "privacy": ["stored encrypted"],
    "help": ["I can take you through", "I can pause reminders", "We're in a short check-in"],
    "medical_question": ["can't give medical or dosing advice"],
    "review": ["Here is what you wrote", "You haven't saved any entries"],
    "thanks_bye": ["You're welcome", "Take care", "let's pause here", "stop here for today"],
    "consent_declined": ["That's completely fine"],
    "paused": ["let's pause here"],
    "resumed": ["pick up where we left off"],
    "greet": ["Welcome back", "Hi, I'm Interlude", "Hello", "Hi again", "Before we start"],
    "reminder_later": ["I'll check in again", "There's no check-in waiting"],
    "not_today": ["no more check-ins today"],
    "stop_today": ["stop here for today", "no more check-ins today", "There's no check-in in progress"],
    "set_time": ["I'll check in around"],
    "human": ["asked your therapist", "your therapist to get in touch"],
    "kept_entry": ["kept this as a journal entry", "kept it for your therapist"],
}


@dataclass
class Observation:
    state: str
    before: dict
    after: dict
    replies: str
    saved_before: int
    saved_after: int
    last_saved: list = field(default_factory=list)
    consented: bool = False
    reminders_paused: bool = False
    preferences_before: tuple = (None, False)
    preferences_after: tuple = (None, False)
    requests: list = field(default_factory=list)

    def has(self, key: str) -> bool:
        return any(m.lower() in self.replies.lower() for m in MARKERS[key])

    @property
    def loop_active(self) -> bool:
        return bool(self.after.get("active_loop"))

    def answers(self, which: str) -> list:
        return list((self.before if which == "before" else self.after).get("prompt_answers") or [])

    @property
    def new_answers(self) -> list:
        """Answers this utterance added to an open (or paused) check-in, or saved."""
        b, a = self.answers("before"), self.answers("after")
        same_set = self.before.get("prompt_set") == self.after.get("prompt_set")
        if same_set and len(a) > len(b):
            return a[len(b) :]
        return []

    @property
    def stored_nothing(self) -> bool:
        """Nothing the patient wrote in this exchange became an answer or an entry."""
        if self.new_answers:
            return False
        # Saved rows are fine only when they are the answers already given before (a stop saves them).
        return self.saved_after - self.saved_before <= len(self.answers("before"))

    @property
    def kept_checkin(self) -> bool:
        """An open or paused check-in is still there with its answers (nothing lost)."""
        if not self.before.get("prompt_set"):
            return True
        return self.after.get("prompt_set") == self.before.get("prompt_set") and len(
            self.answers("after")
        ) >= len(self.answers("before"))


def _slots(tracker: dict) -> dict:
    slots = dict(tracker.get("slots") or {})
    slots["active_loop"] = (tracker.get("active_loop") or {}).get("name")
    return slots


Check = Callable[[Observation], tuple[bool, str]]


def _ok(cond: bool, why: str) -> tuple[bool, str]:
    return bool(cond), "" if cond else why


def expected(behaviour: str, obs: Observation) -> tuple[bool, str]:
    """Does the outcome match what the patient asked for, in this state? (ok, why not)."""
    state = obs.state
    if state == "handoff":
        # A clinician is talking: the bot stays silent (safety replies only), nothing is an entry.
        return _ok(not obs.replies.strip() and obs.stored_nothing, "bot spoke during a handoff")
    if not obs.replies.strip():
        return False, "no reply"
    if GOODBYE in obs.replies and behaviour != "thanks_bye":
        return False, "a goodbye"
    in_checkin = state in CHECKIN_STATES
    b = behaviour
    if b in ("bot_question", "privacy", "help", "medical_question", "review"):
        if not obs.has(b):
            return False, f"no {b} answer"
        if state == "consent":
            return _ok(obs.after.get("pending_question") == "consent", "consent question dropped")
        return _ok(obs.stored_nothing and obs.kept_checkin, "stored or lost the check-in")
    if b == "greet":
        if not obs.stored_nothing or not obs.kept_checkin:
            return False, "stored or lost the check-in"
        if in_checkin:
            return _ok(obs.loop_active, "check-in not continued")
        return _ok(obs.has("greet") or obs.after.get("pending_question") == "consent", "no greeting")
    if b == "consent_yes":
        if state == "consent":
            return _ok(obs.consented, "consent not recorded")
        return _ok(obs.stored_nothing and DEFAULT not in obs.replies, "stored or not understood")
    if b == "consent_no":
        if state == "consent":
            return _ok(not obs.consented and obs.has("consent_declined"), "decline not understood")
        return _ok(obs.stored_nothing and not obs.loop_active, "stored or started")
    if state == "consent":
        # Anything else before consent: nothing stored, the consent question still waits.
        return _ok(not obs.consented and obs.saved_after == 0 and not obs.loop_active, "acted before consent")
    if b == "start_checkin":
        return _ok(obs.loop_active and obs.stored_nothing, "no check-in running")
    if b == "decline_checkin":
        return _ok(
            not obs.loop_active and obs.stored_nothing and obs.kept_checkin and DEFAULT not in obs.replies,
            "check-in still open, stored, or not understood",
        )
    if b == "answer":
        if state in ("prompt_number", "prompt_hours", "prompt_questionnaire"):
            new = obs.new_answers
            return _ok(
                bool(new) and new[0].get("value") is not None and obs.loop_active, "not stored as a number"
            )
        if state in ("prompt_text", "journal"):
            new = obs.new_answers or obs.last_saved
            return _ok(bool(new) and bool(new[-1].get("text")), "not stored as text")
        return _ok(DEFAULT not in obs.replies, "not understood")
    if b == "skip":
        if state == "prompt_questionnaire":
            return _ok(obs.stored_nothing and "only works with an answer" in obs.replies, "no explanation")
        if state in ("prompt_number", "prompt_text"):
            new = obs.new_answers
            # The last question skipped finishes the set: it is saved with no value and no text.
            done = [r for r in obs.last_saved if r.get("value") is None and not r.get("text")]
            return _ok((bool(new) and new[0].get("skipped")) or bool(done), "not skipped")
        return _ok(obs.stored_nothing and DEFAULT not in obs.replies, "stored or not understood")
    if b == "pause":
        if in_checkin or state == "paused":
            return _ok(
                not obs.loop_active
                and obs.stored_nothing
                and obs.kept_checkin
                and obs.saved_after == obs.saved_before,
                "not paused with the answers kept",
            )
        return _ok(
            obs.stored_nothing and not obs.loop_active and DEFAULT not in obs.replies, "not understood"
        )
    if b == "resume":
        if state == "paused":
            return _ok(obs.loop_active and obs.kept_checkin and obs.has("resumed"), "not resumed")
        return _ok(obs.loop_active and obs.stored_nothing and obs.kept_checkin, "no check-in running")
    if b == "stop_today":
        if in_checkin or state == "paused":
            return _ok(
                not obs.loop_active and not obs.after.get("prompt_set") and not obs.new_answers,
                "check-in not ended",
            )
        return _ok(obs.stored_nothing and not obs.loop_active and obs.has("stop_today"), "not understood")
    if b == "correct":
        if state in ("prompt_number", "prompt_text", "prompt_questionnaire"):
            before, after = obs.answers("before"), obs.answers("after")
            went_back = len(after) == len(before) - 1 and obs.loop_active
            # The last answer replaced (said back to the patient, even when it names the same value).
            replaced = (
                len(after) == len(before)
                and bool(before)
                and (
                    after[-1].get("value") != before[-1].get("value")
                    or "changed your last answer" in obs.replies
                )
                and obs.loop_active
            )
            # An earlier answer the patient named ("the anxiety one should be 2") replaced, said back.
            named = (
                len(after) == len(before)
                and any(a.get("value") != b.get("value") for a, b in zip(after, before, strict=True))
                and "I've changed your" in obs.replies
                and obs.loop_active
            )
            return _ok(went_back or replaced or named, "not corrected")
        return _ok(obs.stored_nothing and DEFAULT not in obs.replies, "stored or not understood")
    if b == "journal":
        return _ok(
            obs.after.get("prompt_set") == "journal" and obs.loop_active and obs.stored_nothing,
            "no journal prompt",
        )
    if b == "note_therapist":
        wrote = any(r.get("prompt_set") == "therapist_note" for r in obs.last_saved)
        asked = obs.after.get("prompt_set") == "therapist_note" and obs.loop_active
        return _ok(asked or wrote, "no note to the therapist")
    if b == "questionnaire":
        return _ok(obs.after.get("prompt_set") == "phq9" and obs.loop_active, "no questionnaire")
    if b.startswith("reminder_") and DEFAULT in obs.replies:
        # Done, then "I'm not sure I understood": the reply was handled but nothing predicted
        # the listen after it (with no TEDPolicy, a gap in the rules shows this way).
        return _ok(False, "handled, then not understood")
    if b == "reminder_set_time":
        return _ok(
            obs.preferences_after[0] is not None
            and obs.preferences_after != obs.preferences_before
            and obs.has("set_time")
            and obs.stored_nothing,
            "time not set",
        )
    if b == "reminder_later":
        return _ok(obs.has("reminder_later") and obs.stored_nothing, "not postponed")
    if b == "reminder_not_today":
        return _ok(obs.has("not_today") and obs.stored_nothing and not obs.loop_active, "not skipped today")
    if b == "reminder_stop":
        return _ok(obs.reminders_paused and obs.stored_nothing, "reminders not stopped")
    if b == "reminder_resume":
        return _ok(not obs.reminders_paused and obs.stored_nothing, "reminders not resumed")
    if b == "human":
        return _ok(
            any(r["kind"] == "contact" for r in obs.requests) and obs.stored_nothing and obs.kept_checkin,
            "no request to the therapist",
        )
    if b in ("data_delete", "data_export"):
        return _ok(
            obs.after.get("pending_question") == b and obs.stored_nothing and not obs.loop_active,
            "no confirmation question",
        )
    if b == "thanks_bye":
        return _ok(obs.has("thanks_bye") and obs.stored_nothing, "no thanks/bye reply")
    if b == "emoji_only":
        return _ok(obs.stored_nothing and obs.kept_checkin, "stored an emoji or lost the check-in")
    if b == "long_entry":
        if in_checkin:
            new = obs.new_answers or obs.last_saved
            return _ok(bool(new) and bool(new[-1].get("text")), "not kept")
        kept = any(r.get("prompt_set") == "journal" and r.get("text") for r in obs.last_saved)
        return _ok(kept and obs.has("kept_entry") and obs.kept_checkin, "not kept as a journal entry")
    return False, f"unknown behaviour {b}"


class Harness:
    """Drives one running stack (tests/integration/stack.py) through labelled utterances."""

    def __init__(self, stack, store: Store) -> None:  # type: ignore[no-untyped-def]
        self.stack = stack
        self.store = store
        self.clinic_id = store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
        self.staff_id = store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)

    def tracker(self, ref: str) -> dict:
        s = self.stack.settings
        q = urllib.parse.urlencode({"token": s.api_token})
        url = f"{s.rasa_url}/conversations/{urllib.parse.quote(ref)}/tracker?{q}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            return _slots(json.loads(resp.read().decode()))

    def _saved(self, ref: str) -> list:
        rows = self.store.checkins.list_answers(ref, actor="test:conversation", origin="test")
        return [
            {"prompt_set": a.prompt_set, "key": a.prompt_key, "text": a.text, "value": a.value} for a in rows
        ]

    def _requests(self, ref: str) -> list:
        rows = self.store.requests.patient_requests(ref, actor="test:conversation", origin="test")
        return [{"kind": r.kind} for r in rows]

    def prepare(self, state: str, behaviour: str) -> str:
        ref = self.store.patients.create_patient(
            clinic_id=self.clinic_id,
            therapist_id=self.staff_id,
            display_name="Blind Patient",
            locale="en-US",
        ).ref
        if state != "consent":
            self.store.patients.record_consent(ref, "test")
        client = self.stack.client(ref)
        for text in PREFIXES[state]:
            client.send(text)
        if state == "handoff":
            from bot.flags.handoff import HandoffService, RasaApi

            HandoffService(
                self.store.handoffs,
                self.store.staff,
                RasaApi(self.stack.settings.rasa_url, self.stack.settings.api_token),
            ).start(ref, self.staff_id, origin="test")
            client.fetch_outbox()
        if behaviour == "reminder_resume":
            self.store.patients.set_reminders_paused(ref, True, origin="test")
        return ref

    def judge(self, text: str, behaviour: str, state: str) -> tuple[bool, str, str]:
        ref = self.prepare(state, behaviour)
        before = self.tracker(ref)
        saved_before = self._saved(ref)
        prefs_before = self.store.schedule.checkin_preferences(ref)
        client = self.stack.client(ref)
        replies = client.send(text)
        reply_text = "\n".join(r.get("text") or "" for r in replies)
        saved_after = self._saved(ref)
        obs = Observation(
            state=state,
            before=before,
            after=self.tracker(ref),
            replies=reply_text,
            saved_before=len(saved_before),
            saved_after=len(saved_after),
            last_saved=saved_after[len(saved_before) :],
            consented=self.store.patients.has_consented(ref),
            reminders_paused=self.store.patients.reminders_paused(ref),
            preferences_before=prefs_before,
            preferences_after=self.store.schedule.checkin_preferences(ref),
            requests=self._requests(ref),
        )
        ok, why = expected(behaviour, obs)
        return ok, why, reply_text


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Score:
    n: int
    correct: int
    by_behaviour: dict
    by_state: dict
    failures: list

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def table(self) -> str:
        def fmt(d: dict) -> str:
            return ", ".join(f"{k} {c}/{n}" for k, (c, n) in sorted(d.items()))

        return (
            f"n={self.n} accuracy={self.accuracy:.3f}\n"
            f"by behaviour: {fmt(self.by_behaviour)}\nby state: {fmt(self.by_state)}"
        )


def score_rows(harness: Harness, rows: list[dict], log: Callable[[str], None] | None = None) -> Score:
    log = log or (lambda line: print(line, flush=True))
    tally_b: dict = defaultdict(lambda: [0, 0])
    tally_s: dict = defaultdict(lambda: [0, 0])
    failures = []
    correct = 0
    for row in rows:
        ok, why, reply = harness.judge(row["text"], row["behaviour"], row["state"])
        correct += ok
        for tally, key in ((tally_b, row["behaviour"]), (tally_s, row["state"])):
            tally[key][0] += ok
            tally[key][1] += 1
        if not ok:
            failures.append({**row, "why": why, "reply": reply[:300]})
            log(f"FAIL [{row['behaviour']} @ {row['state']}] {row['text'][:80]!r}: {why} | {reply[:120]!r}")
    return Score(len(rows), correct, dict(tally_b), dict(tally_s), failures)


def summary(rows: list[dict]) -> str:
    return str(Counter((r["behaviour"], r["state"]) for r in rows).most_common(5))
