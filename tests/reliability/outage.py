"""One patient's conversation through a database outage (issue #20), shared by the PostgreSQL
run (test_c) and SQLite made unwritable (test_d): the conversation goes on from memory, a
journal entry is held in the spool and saved exactly once, nothing written meanwhile is
misfiled, and the conversation picks up where it was once the database is back."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.channels import wording
from bot.runtime import Store
from tests.integration.stack import Stack
from tests.reliability.conftest import say

CRISIS_MARK = "988"
RISKY = "I want to kill myself tonight"
START = "I just want to write something"
QUEUED = "held on to your answers safely"  # utter_checkin_queued: honest about the delay
#: What a risky message gets when nobody could be told: the channel's static text, or the
#: safety action's own crisis reply when the flag could not be written.
HONEST = ("care team may not have been told", "trouble reaching your care team")
NOT_KEPT = wording.text("local", "unavailable")


def user_texts(store: Store, ref: str) -> list[str]:
    """What the database holds of the patient's side of the conversation, in order."""
    with store.core.factory() as s:
        return [e.get("text") for row, e in store.core.messages(s, ref) if row.type_name == "user"]


def event_spool_empty(stack: Stack) -> bool:
    return not list((stack.settings.data_dir / "spool" / "events").glob("*.rec"))


def journal_through_outage(
    stack: Stack,
    store: Store,
    make_patient: Callable[[], str],
    down: Callable[[], None],
    up: Callable[[], None],
    tag: str,
    readable: bool = False,
) -> dict[str, str]:
    """Returns what the patient saw during the outage, by step. `readable`: the database can
    still be read (SQLite made unwritable), so a conversation not in memory can be loaded."""
    ref, fresh, fresh_risky = make_patient(), make_patient(), make_patient()
    entries = [f"{tag} entry one: the garden smelled of rain", f"{tag} entry two: I slept a little better"]
    assert say(stack, ref, "hello")[0] == 200
    status, reply = say(stack, ref, START)
    assert status == 200 and "listening" in reply, reply
    saw: dict[str, str] = {}
    down()
    try:
        started = time.monotonic()
        status, saw["entry"] = say(stack, ref, entries[0])
        assert status == 200 and QUEUED in saw["entry"], (status, saw["entry"])
        status, saw["hello"] = say(stack, ref, "hello")  # not the note: the entry was taken
        assert status == 200 and saw["hello"].strip() and NOT_KEPT not in saw["hello"], saw["hello"]
        status, reply = say(stack, ref, START)
        assert status == 200 and "listening" in reply, reply
        status, reply = say(stack, ref, entries[1])
        assert status == 200 and QUEUED in reply, reply
        saw["turns"] = f"{(time.monotonic() - started) / 4:.1f} s a turn"
        # A conversation that is not in memory (never spoken, or a restart in the outage):
        # honest that the message was not kept; risky words still get crisis resources.
        status, saw["not in memory"] = say(stack, fresh, "hello")
        expected = bool(saw["not in memory"].strip()) if readable else saw["not in memory"] == NOT_KEPT
        assert status == 200 and expected, (status, saw["not in memory"])
        status, saw["risky, not in memory"] = say(stack, fresh_risky, RISKY)
        risky = saw["risky, not in memory"]
        assert status == 200 and CRISIS_MARK in risky and any(h in risky for h in HONEST), risky
    finally:
        up()
    back = time.monotonic()

    def answers() -> list[str]:
        return [a.text for a in store.checkins.list_answers(ref, actor="test", origin="reliability")]

    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not (set(entries) <= set(answers()) and event_spool_empty(stack)):
        time.sleep(0.5)
    saw["saved after"] = f"{time.monotonic() - back:.1f} s"
    time.sleep(2)  # a second write, if there were one, would land now
    stored = answers()
    assert [t for t in stored if t in entries] == entries, stored  # each once, in order
    assert "hello" not in stored and START not in stored, stored  # nothing misfiled
    assert event_spool_empty(stack)
    status, reply = say(stack, ref, "hello")
    assert status == 200 and reply.strip() and NOT_KEPT not in reply, (status, reply)
    # The conversation picked up where it was: every turn stored once, in order.
    said = user_texts(store, ref)
    assert said == ["hello", START, entries[0], "hello", START, entries[1], "hello"], said
    # The risky message from a conversation not in memory became exactly one flag.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not flags_of(store, fresh_risky):
        time.sleep(1)
    time.sleep(2)
    written = flags_of(store, fresh_risky)
    assert len(written) == 1 and written[0].message_count == 1, written
    return saw


def flags_of(store: Store, ref: str) -> list:
    return [f for f in store.flags.list_flags(actor="test", origin="reliability") if f.patient_ref == ref]
