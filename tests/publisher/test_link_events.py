"""The web app's reader of link events: acknowledged as the loop moves on, others skipped."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio

from bot.publisher import AsyncPublisher, Publisher
from bot.store.link_events import LinkEvents
from bot.store.registry import ChatRegistry
from tests.link_events import (
    QUIET,
    Seen,
    link_events_publishers,  # noqa: F401 - the fixture `publishers`
    link_events_stream,  # noqa: F401 - the fixture `stream`
    read_async,
    read_sync,
    seen,
)


async def test_an_event_is_acknowledged_when_the_loop_moves_on_and_comes_again_if_left(
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    stream: str,
) -> None:
    registry = ChatRegistry(redis_client, LinkEvents(stream))
    await registry.link(1, 9001)  # no event: not a deep link
    await registry.unlink_user(1, reason="admin")
    await registry.redeem(await registry.create_link_token(2, 60), 9002)
    sync, async_ = publishers

    def first_only() -> Seen:
        for event in sync.link_events("shop", stop_after=QUIET, wait=QUIET / 2):
            return seen([event])  # handled, but the loop was left: it stays pending
        return []

    assert await asyncio.to_thread(first_only) == [("unlinked", 1, "admin")]
    # Pending first, for this consumer, from either publisher; then the rest, once each.
    assert await read_async(async_, "shop") == [("unlinked", 1, "admin"), ("linked", 2, "start")]
    assert await read_sync(sync, "shop") == []
    assert await read_async(async_, "another-app") == [
        ("unlinked", 1, "admin"),
        ("linked", 2, "start"),
    ]  # a new group starts at the stream's start


async def test_entries_that_are_not_link_events_are_skipped(
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    stream: str,
) -> None:
    good = {"type": "unlinked", "user_id": 7, "reason": "stop", "at": "2026-11-30T12:00:00.000Z"}
    for payload in (
        "not json",
        json.dumps({"type": "action", "user_id": 7, "reason": "stop", "at": "x"}),
        json.dumps({"type": "linked", "user_id": "seven", "reason": "start", "at": "x"}),
        json.dumps({"type": "linked", "user_id": 7, "at": "x"}),
        json.dumps(good),
    ):
        await redis_client.xadd(stream, {"payload": payload})
    await redis_client.xadd(stream, {"other": "field"})
    sync, async_ = publishers

    assert await read_sync(sync) == [("unlinked", 7, "stop")]
    assert (await redis_client.xpending(stream, "web"))["pending"] == 0  # skipped ones too
    with pytest.raises(ValueError, match="wait must be over 0"):
        async_.link_events("web", wait=0)
