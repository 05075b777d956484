"""The channel rules that need no running server: splitting, keyboards, inbound sanitising,
per-sender ordering and limits, de-duplication, the web chat's payloads and history, and the
clinic-editable wording file."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels import wording
from bot.channels.inbound import SeenIds, SenderQueue, is_risky, sanitize


def test_split_text_keeps_every_word_in_order_under_the_limit():
    from bot.channels.telegram import split_text

    text = "\n\n".join(f"Paragraph {i}: " + "word " * 300 for i in range(12))
    parts = split_text(text, limit=4096)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert split_text("short") == ["short"]
    assert split_text("x" * 9000, limit=4096) == ["x" * 4096, "x" * 4096, "x" * 808]  # no boundary: hard cut
    assert split_text("   ") == []


def test_keyboard_layout_and_telegram_limits():
    from bot.channels.telegram import keyboard

    scale = keyboard([{"title": str(i), "payload": str(i)} for i in range(11)])
    assert [len(row) for row in scale.inline_keyboard] == [6, 5]
    choices = keyboard([{"title": "I agree", "payload": "/affirm"}, {"title": "Not now", "payload": "/deny"}])
    assert [[b.text for b in row] for row in choices.inline_keyboard] == [["I agree"], ["Not now"]]
    long = keyboard([{"title": "t", "payload": "p" * 100}])
    assert len(long.inline_keyboard[0][0].callback_data) == 64  # Telegram's callback_data limit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/affirm", "/affirm"),
        ("/deny", "/deny"),
        ("/EXTERNAL_handoff_started", "EXTERNAL_handoff_started"),
        ('/inform{"prompt_answer": "x"}', 'inform{"prompt_answer": "x"}'),
        ("//greet me", "greet me"),
        ("/ i want to kill myself", "i want to kill myself"),
        ("i feel ok / tired", "i feel ok / tired"),
        ("7", "7"),
    ],
)
def test_sanitize_lets_button_intents_through_and_nothing_else(text, expected):
    assert sanitize(text) == expected


def test_is_risky_uses_the_threshold():
    assert is_risky("i want to kill myself", "moderate")
    assert not is_risky("i want to kill myself", "critical")  # high, below a critical threshold
    assert not is_risky("had a lovely walk", "low")
    assert not is_risky("   ", "low")


def test_sender_queue_keeps_order_per_sender_and_caps_floods():
    queue = SenderQueue(max_pending=50, window=10.0, max_in_window=3)
    assert [queue.admit("a", now=t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert queue.admit("b", now=3.0)  # another sender is unaffected
    assert queue.admit("a", now=11.5)  # the window has moved on

    order: list[int] = []

    async def main() -> None:
        q = SenderQueue()

        async def job(i: int) -> None:
            await asyncio.sleep(0.01 * (5 - i))  # later jobs would finish first if not serialised
            order.append(i)

        await asyncio.gather(*(q.run("a", lambda i=i: job(i)) for i in range(5)))

    asyncio.run(main())
    assert order == [0, 1, 2, 3, 4]


def test_seen_ids_remember_a_bounded_number():
    seen = SeenIds(size=3)
    assert [seen.first_time(i) for i in (1, 2, 1, 3, 4, 1)] == [True, True, False, True, True, True]


def test_webchat_payload_and_history():
    from rasa.shared.core.events import BotUttered, UserUttered

    from bot.channels.webchat import bot_payload, history_items

    buttons = [{"title": "I agree", "payload": "/affirm"}]
    assert bot_payload("Hi", buttons, {"metadata": {"handoff": "started"}, "clinician": "Dr X"}) == {
        "text": "Hi",
        "quick_replies": [{"content_type": "text", "title": "I agree", "payload": "/affirm"}],
        "metadata": {"handoff": "started"},
    }
    events = [
        UserUttered("/greet"),
        BotUttered("Do you agree?", data={"buttons": buttons}),
        UserUttered("/affirm"),
        BotUttered("Thank you."),
        UserUttered("/EXTERNAL_clinician_message", metadata={"is_external": True}),
        BotUttered("Dr X: hello", metadata={"metadata": {"from": "clinician"}}),
        UserUttered("a calm day"),
        BotUttered("Anything else?", data={"buttons": [{"title": "No", "payload": "/deny"}]}),
    ]
    items = history_items(events)
    assert [(i["role"], i["text"]) for i in items] == [
        ("bot", "Do you agree?"),
        ("patient", "I agree"),
        ("bot", "Thank you."),
        ("bot", "Dr X: hello"),
        ("patient", "a calm day"),
        ("bot", "Anything else?"),
    ]
    assert items[3]["metadata"] == {"from": "clinician"}
    assert "quick_replies" not in items[0] and items[-1]["quick_replies"][0]["title"] == "No"
    assert len(history_items(events, limit=2)) == 2


def test_wording_file_is_complete_and_a_broken_one_is_refused(tmp_path):
    wording.check()
    assert "988" in wording.text("telegram", "help", emergency="988")
    broken = tmp_path / "channels.yml"
    broken.write_text("telegram:\n  help: hi\nwebchat: {}\n")
    with pytest.raises(wording.WordingError, match="missing"):
        wording.check(broken)
    broken.write_text("telegram: [oops\n")
    with pytest.raises(wording.WordingError, match="not valid YAML"):
        wording.check(broken)
