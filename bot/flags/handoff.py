"""Clinician handoff: a clinician takes over a patient's conversation while a flag is open.

While it lasts, the clinician's messages reach the patient in the patient's own channel, the
bot stays silent except for safety replies (SafetyPolicy, slot handoff_active), and every
message in both directions is part of the encrypted transcript. The clinician hands back
explicitly. The portal and the CLI call this module; it talks to Rasa's HTTP API (127.0.0.1,
API token), sending external intents that the handoff actions turn into messages.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from bot.flags.handoffs import HandoffRepo
from bot.staff.store import StaffRepo
from bot.store.errors import StoreError

MAX_CLINICIAN_MESSAGE = 4_000


class HandoffError(StoreError):
    pass


@dataclass
class RasaApi:
    """Just enough of Rasa's HTTP API, with Interlude's token."""

    base_url: str
    token: str
    timeout: float = 30.0

    def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, str], output_channel: str = "latest"
    ) -> dict:
        """Send an external intent; replies go to `output_channel` (a channel name, or "latest":
        the patient's most recent channel)."""
        query = urllib.parse.urlencode({"output_channel": output_channel, "token": self.token})
        url = f"{self.base_url}/conversations/{urllib.parse.quote(conversation_id)}/trigger_intent?{query}"
        body = json.dumps({"name": intent, "entities": entities}).encode()
        req = urllib.request.Request(  # noqa: S310 - our own loopback Rasa server
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError) as exc:
            raise HandoffError(
                f"Interlude's assistant could not be reached ({type(exc).__name__})."
            ) from None


class HandoffService:
    def __init__(self, handoffs: HandoffRepo, staff: StaffRepo, rasa: RasaApi) -> None:
        self.handoffs = handoffs
        self.staff = staff
        self.rasa = rasa

    def start(self, ref: str, staff_id: int, *, origin: str) -> None:
        self.handoffs.start_handoff(ref, staff_id, origin=origin)
        try:
            self.rasa.trigger_intent(
                ref, "EXTERNAL_handoff_started", {"clinician_name": self.staff.staff_name(staff_id)}
            )
        except HandoffError:
            self.handoffs.end_handoff(ref, staff_id, origin=origin)  # never leave a silent bot behind
            raise

    def say(self, ref: str, staff_id: int, text: str, *, origin: str) -> None:
        text = text.strip()
        if not text:
            raise HandoffError("The message is empty.")
        if len(text) > MAX_CLINICIAN_MESSAGE:
            raise HandoffError(f"Messages are limited to {MAX_CLINICIAN_MESSAGE:,} characters.")
        if self.handoffs.active_handoff_staff(ref) != staff_id:
            raise HandoffError("Take over the conversation before writing to the patient.")
        self.rasa.trigger_intent(
            ref,
            "EXTERNAL_clinician_message",
            {"clinician_text": text, "clinician_name": self.staff.staff_name(staff_id)},
        )
        self.handoffs.note_handoff_message(ref, staff_id, origin=origin)

    def end(self, ref: str, staff_id: int, *, origin: str) -> None:
        if self.handoffs.active_handoff_staff(ref) is None:
            raise HandoffError("No clinician has taken over this conversation.")
        self.rasa.trigger_intent(
            ref, "EXTERNAL_handoff_ended", {"clinician_name": self.staff.staff_name(staff_id)}
        )
        self.handoffs.end_handoff(ref, staff_id, origin=origin)
