"""Long messages are parsed off the event loop, so they never stall other patients' turns.

Rasa 3.6 runs the whole NLU pipeline (spaCy, featurizers, DIET, the risk detector)
synchronously inside `MessageProcessor.parse_message`, on the event loop that serves every
channel: a 20,000-character message held it for about 6 s here, and nobody else was answered
meanwhile. This adapter runs the same graph in a worker thread for texts above LONG_CHARS
(short ones stay on the loop, as before: for them the thread hop costs more than it saves).
One worker thread: long messages queue behind each other, never behind short ones.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker

LONG_CHARS = 1_000

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="long-nlu")
_original = MessageProcessor.parse_message


async def parse_message(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker | None = None,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    if self.http_interpreter or len(message.text or "") <= LONG_CHARS:
        return await _original(self, message, tracker, only_output_properties)
    if tracker is None:
        tracker = DialogueStateTracker.from_events(message.sender_id, [])
    loop = asyncio.get_running_loop()
    parse_data = await loop.run_in_executor(
        _pool, self._parse_message_with_graph, message, tracker, only_output_properties
    )
    # The rest of Rasa's parse_message, as in 3.6.21 (debug logging of the text left out).
    self._update_full_retrieval_intent(parse_data)
    self._check_for_unseen_features(parse_data)
    return parse_data


def install() -> None:
    """Patch Rasa's processor in this process (the Rasa server calls this before it starts)."""
    MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]
