from __future__ import annotations

import pytest

from bot.runtime import Store
from tests.conversation.harness import Harness
from tests.integration.stack import Stack, start_stack


@pytest.fixture(scope="package")
def conv_stack(tmp_path_factory) -> Stack:
    """One stack for the whole matrix (the scheduler and alert channels are not needed here)."""
    root = tmp_path_factory.mktemp("conversation")
    data = root / "data"
    data.mkdir()
    s = start_stack(data, root / "console.log")
    yield s
    s.stop()


@pytest.fixture(scope="package")
def conv_store(conv_stack: Stack) -> Store:
    store = Store.open(conv_stack.settings.database_url, conv_stack.settings.data_dir, environ={})
    yield store
    store.core.close()


@pytest.fixture(scope="package")
def harness(conv_stack: Stack, conv_store: Store) -> Harness:
    return Harness(conv_stack, conv_store)
