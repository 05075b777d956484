"""Add a scored blind round to the NLU training data (after it was scored untuned).

Only after the round was scored untuned (tests/conversation/README.md). Each behaviour maps to
the intent that carries it outside a check-in; behaviours with no intent of their own are left
to bot/understanding.py and the tests. Texts already in data/nlu are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from tests.conversation.harness import load_rows

INTENT = {
    "greet": "greet",
    "consent_yes": "affirm",
    "consent_no": "deny",
    "start_checkin": "start_checkin",
    "decline_checkin": "not_now",
    "answer": "inform",
    "skip": "inform",
    "pause": "not_now",
    "resume": "resume_checkin",
    "correct": "correct_answer",
    "stop_today": "stop_checkin",
    "review": "review_entries",
    "journal": "free_journal",
    "note_therapist": "message_therapist",
    "questionnaire": "start_questionnaire",
    "reminder_set_time": "manage_reminders",
    "reminder_later": "manage_reminders",
    "reminder_not_today": "manage_reminders",
    "reminder_stop": "manage_reminders",
    "reminder_resume": "manage_reminders",
    "human": "talk_to_human",
    "bot_question": "ask_bot",
    "privacy": "ask_privacy",
    "data_delete": "request_data_delete",
    "data_export": "request_data_export",
    "medical_question": "ask_medical_advice",
    "help": "help",
    "emoji_only": "emoji_only",
    "long_entry": "inform",
}


def existing_examples(root: Path) -> set[str]:
    seen: set[str] = set()
    for path in sorted((root / "data" / "nlu").glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                seen.add(line.strip().removeprefix("- ").strip().lower())
    return seen


def convert(rows: list[dict], seen: set[str], source: str) -> str:
    by_intent: dict[str, list[str]] = {}
    for row in rows:
        intent = INTENT.get(row["behaviour"])
        if row["behaviour"] == "thanks_bye":
            intent = (
                "goodbye"
                if any(w in row["text"].lower() for w in ("bye", "night", "gn", "ttyl", "later"))
                else "thank"
            )
        text = " ".join(row["text"].split())
        if intent is None or text.lower() in seen or len(text) > 400:
            continue
        seen.add(text.lower())
        by_intent.setdefault(intent, []).append(text)
    lines = [
        'version: "3.1"',
        f"# Blind round {source}, added after it was scored untuned (tests/conversation/README.md).",
        "nlu:",
    ]
    for intent, texts in sorted(by_intent.items()):
        lines.append(f"  - intent: {intent}")
        lines.append("    examples: |")
        lines += [f"      - {t}" for t in texts]
    return "\n".join(lines) + "\n"


#: States where "answer" is a reply to what the bot said (an acknowledgement), not `inform`.
_ACK_STATES = frozenset({"idle", "review", "reminder_talk", "checkin_offer", "paused"})


def trainable(rows: list[dict]) -> list[dict]:
    """The rows that teach an intent: not the handoff (the bot is silent there) and not the
    acknowledgements of the idle states ("ok that works" is no `inform`), as rounds 5-15 were added."""
    return [
        r
        for r in rows
        if r["state"] != "handoff" and not (r["behaviour"] == "answer" and r["state"] in _ACK_STATES)
    ]


def main() -> int:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    root = Path(__file__).resolve().parents[2]
    out.write_text(convert(trainable(load_rows(src)), existing_examples(root), src.stem), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
