"""Patients writing at once through the web chat and the local channel, to Interlude's Rasa
replicas, and what the stored events must show afterwards. Shared by
tests/integration/test_replicas.py (a few patients) and `make bench` (bot/bench_replicas.py,
50 patients x 20 messages, with throughput for 1 and 2 replicas).

Each patient has one web chat socket and one local-channel client, writing at the same time,
each waiting for its reply before the next message (as people do). Through the web app, the
socket stays on one replica and the local messages go to the replicas in turn, so one
conversation is written by two replicas at once: only the lock store keeps its turns apart.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import socketio
from sqlalchemy import select

from bot.chat import ChatClient, ChatError
from bot.demo import DEMO_CLINIC_SLUG, DEMO_THERAPIST_EMAIL
from bot.runtime import Store
from bot.store.models import RasaEvent
from bot.supervisor import free_ports
from tests.integration.stack import Stack, start_stack

TURN_TIMEOUT = 120.0


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def replica_ports(n: int) -> tuple[int, int]:
    """Base Rasa and action-server ports whose n consecutive ports are all free and apart."""
    for _ in range(50):
        rasa, actions = free_ports(2)
        block = [*range(rasa, rasa + n), *range(actions, actions + n)]
        if len(set(block)) == len(block) and all(_free(p) for p in block):
            return rasa, actions
    raise RuntimeError("no free port blocks for the replicas")


def start_replicas(
    data: Path, console: Path, database_url: str, n: int, timeout: float = 600.0, **extra: str
) -> Stack:
    """`interlude run --replicas n` on PostgreSQL and the machine's Redis (keys of its own)."""
    rasa, actions = replica_ports(n)
    return start_stack(
        data,
        console,
        timeout=timeout,
        args=("--replicas", str(n)),
        INTERLUDE_DATABASE_URL=database_url,
        INTERLUDE_RASA_PORT=str(rasa),
        INTERLUDE_ACTIONS_PORT=str(actions),
        INTERLUDE_REDIS_PREFIX="t" + secrets.token_hex(6),
        **extra,
    )


@dataclass
class Patient:
    ref: str
    token: str
    sent: dict[str, list[str]] = field(default_factory=lambda: {"web": [], "local": []})
    replies: dict[str, int] = field(default_factory=lambda: {"web": 0, "local": 0})
    problems: list[str] = field(default_factory=list)


def enrol(store: Store, m: int) -> list[Patient]:
    clinic = store.staff.ensure_clinic(DEMO_CLINIC_SLUG, "Demo Clinic (synthetic data)")
    staff = store.staff.staff_id_by_email(DEMO_THERAPIST_EMAIL)
    patients = []
    for _ in range(m):
        ref = store.patients.create_patient(
            clinic_id=clinic, therapist_id=staff, display_name="Replica Test"
        ).ref
        store.patients.record_consent(ref, "test")
        token = store.patients.issue_web_token(ref, ttl=timedelta(days=1), actor="test", origin="test")
        patients.append(Patient(ref, token))
    return patients


def texts(channel: str, ref: str, k: int) -> list[str]:
    # Distinct and ordinary: a journal-like line per message, numbered so order can be checked.
    tag = ref[-6:]
    return [f"{channel} line {i} from {tag} about the garden" for i in range(k)]


def _web(stack: Stack, patient: Patient, k: int, start: threading.Barrier) -> None:
    turns_done = threading.Semaphore(0)
    errors: list[dict] = []
    bot: list[dict] = []
    # No timeout on a request, as the widget's socket.io client (requestTimeout 0): under load
    # an answer may take longer than python-socketio's default 5 s, which drops the message.
    sio = socketio.Client(reconnection=False, request_timeout=TURN_TIMEOUT)
    sio.on("bot_uttered", bot.append)
    sio.on("chat_error", lambda data: (errors.append(data), turns_done.release()))
    # The channel clears "typing" when a turn is over (webchat.py): one per message.
    sio.on("bot_typing", lambda data: None if data.get("typing") else turns_done.release())
    # A socket dropped under load (engine.io ping timeout) loses what it had not delivered.
    sio.on(
        "disconnect",
        lambda *_: patient.problems.append("web: the socket was disconnected") if not closing else None,
    )
    closing = False
    try:
        try:
            sio.connect(
                stack.settings.web_url, transports=["polling"], auth={"token": patient.token}, wait_timeout=60
            )
        finally:
            start.wait()  # every chat open before anyone writes, as in a clinic's evening
        for text in texts("web", patient.ref, k):
            patient.sent["web"].append(text)
            sio.emit("user_uttered", {"message": text})
            if not turns_done.acquire(timeout=TURN_TIMEOUT):
                patient.problems.append(f"web: no end of turn for {text!r}")
                return
            if errors:
                patient.problems.append(f"web: {errors}")
                return
        patient.replies["web"] = len(bot)
    except Exception as exc:
        patient.problems.append(f"web: {type(exc).__name__}: {exc}")
    finally:
        closing = True
        if sio.connected:
            sio.disconnect()


def _local(stack: Stack, patient: Patient, k: int, start: threading.Barrier) -> None:
    start.wait()
    # Through the web app, which spreads local-channel messages over the replicas.
    client = ChatClient(stack.settings.web_url, stack.settings.api_token, patient.ref, timeout=TURN_TIMEOUT)
    for text in texts("local", patient.ref, k):
        patient.sent["local"].append(text)
        try:
            replies = client.send(text)
        except ChatError as exc:
            patient.problems.append(f"local: {exc}")
            return
        if not any(r.get("text") for r in replies):
            patient.problems.append(f"local: no reply to {text!r}")
        patient.replies["local"] += 1


def converse(stack: Stack, patients: Sequence[Patient], k: int) -> float:
    """Every patient sends k messages (k/2 per channel) at once; returns the seconds taken."""
    half = k // 2
    started: list[float] = []
    # Sockets connect first (a connect waits behind every message already queued in Rasa);
    # the clock starts when all are open and everyone begins writing.
    start = threading.Barrier(2 * len(patients), action=lambda: started.append(time.monotonic()), timeout=600)
    with ThreadPoolExecutor(max_workers=2 * len(patients)) as pool:
        jobs = [pool.submit(_web, stack, p, half, start) for p in patients]
        jobs += [pool.submit(_local, stack, p, k - half, start) for p in patients]
        for job in jobs:
            job.result()
    return time.monotonic() - started[0]


def stored_events(store: Store, ref: str) -> list[tuple[int, dict]]:
    """(seq, event) of the conversation as stored, decrypted, in stored order."""
    with store.core.engine.connect() as conn:
        rows = conn.execute(
            select(RasaEvent.seq, RasaEvent.data).where(RasaEvent.sender_id == ref).order_by(RasaEvent.seq)
        ).all()
    return [
        (seq, json.loads(store.vault.decrypt_conversation(ref, data[len("enc1:") :]))) for seq, data in rows
    ]


def order_problems(store: Store, patient: Patient) -> list[str]:
    """What the stored events show that must not be: a message lost or doubled, one channel's
    messages out of order, or two turns interleaved (two messages handled at once)."""
    events = stored_events(store, patient.ref)
    problems = list(patient.problems)
    seqs = [seq for seq, _ in events]
    if seqs != list(range(len(seqs))):
        problems.append(f"seq not 0..n-1: {seqs[:20]}...")
    said = [
        e.get("text")
        for _, e in events
        if e.get("event") == "user" and not (e.get("metadata") or {}).get("is_external")
    ]
    sent = patient.sent["web"] + patient.sent["local"]
    if sorted(said) != sorted(sent):
        problems.append(f"stored messages differ from those sent: {len(said)} stored, {len(sent)} sent")
    for channel in ("web", "local"):
        mine = [t for t in said if t in set(patient.sent[channel])]
        if sorted(mine) == sorted(patient.sent[channel]) and mine != patient.sent[channel]:
            problems.append(f"{channel} messages stored out of order: {mine}")
    # Each turn is a user message, the bot's actions, then action_listen: the marks must
    # alternate. Two turns handled at once show as two user messages before one listen.
    marks = [
        "U" if e.get("event") == "user" else "L"
        for _, e in events
        if e.get("event") == "user" or (e.get("event") == "action" and e.get("name") == "action_listen")
    ]
    marks = marks[marks.index("U") :] if "U" in marks else []
    if "".join(marks) != "UL" * (len(marks) // 2) or len(marks) % 2:
        problems.append(f"turns interleaved: {''.join(marks)}")
    return problems
