"""What the link events tests share: the test's stream, the web app's publishers, reading it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest
import redis.asyncio

from bot.publisher import AsyncPublisher, LinkEvent, Publisher

QUIET = 0.2  # a read ends once no event came for this long: every event was written before it
Seen = list[tuple[str, int, str]]  # (type, user id, reason)


@pytest.fixture(name="stream")
def link_events_stream(channel: str) -> str:
    """This test's link events stream (imported, the fixture `stream`)."""
    return f"{channel}-links"


@pytest.fixture(name="publishers")
async def link_events_publishers(
    redis_url: str, redis_client: redis.asyncio.Redis, stream: str
) -> AsyncIterator[tuple[Publisher, AsyncPublisher]]:
    """The web app's two publishers, on this test's link events stream (imported, the fixture
    `publishers`)."""
    sync = Publisher.from_url(redis_url, link_events_stream=stream)
    async_ = AsyncPublisher.from_url(redis_url, link_events_stream=stream)
    yield sync, async_
    sync.client.delete(stream)
    sync.client.close()
    await async_.client.aclose()


def seen(events: Iterable[LinkEvent]) -> Seen:
    return [(event.type, event.user_id, event.reason) for event in events]


async def read_sync(publisher: Publisher, group: str = "web") -> Seen:
    """The events `group` has not had yet, read by the blocking publisher in a thread of its
    own: it must not block the event loop the bot runs in."""

    def read() -> list[LinkEvent]:
        return list(publisher.link_events(group, stop_after=QUIET, wait=QUIET / 2))

    return seen(await asyncio.to_thread(read))


async def read_async(publisher: AsyncPublisher, group: str = "web") -> Seen:
    """The events `group` has not had yet, read by the asyncio publisher."""
    return seen([e async for e in publisher.link_events(group, stop_after=QUIET, wait=QUIET / 2)])
