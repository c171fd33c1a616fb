"""The publishers' tests' shared fixture: a sync and an async publisher on a test's own channel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.publisher import AsyncPublisher, Publisher
from bot.store.client import priority_streams


@pytest.fixture
async def publishers(
    redis_url: str, channel: str
) -> AsyncIterator[tuple[Publisher, AsyncPublisher]]:
    """A sync and an async publisher on this test's own channel and streams."""
    stream = f"{channel}-stream"
    sync = Publisher.from_url(redis_url, channel, stream)
    async_ = AsyncPublisher.from_url(redis_url, channel, stream)
    yield sync, async_
    sync.client.delete(*priority_streams(stream))
    sync.client.close()
    await async_.client.aclose()
