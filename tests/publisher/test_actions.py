"""Taps on action buttons as a web app reads them: a consumer group, acknowledged as it goes on."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.publisher import AsyncPublisher, Publisher


def add_event(client: redis.Redis, stream: str, action: str, **extra: Any) -> None:
    event = {
        "type": "action",
        "action": action,
        "user_id": 42,
        "id": "order-17",
        "chat_id": 9001,
        "message_id": 5,
        "at": "2026-11-30T12:00:00.000+00:00",
        **extra,
    }
    client.xadd(stream, {"payload": json.dumps(event)})


def test_action_events_are_acknowledged_when_the_loop_moves_on(
    redis_url: str, channel: str
) -> None:
    stream = f"{channel}-actions"
    publisher = Publisher.from_url(redis_url, actions_stream=stream)
    try:
        add_event(publisher.client, stream, "first")
        publisher.client.xadd(stream, {"payload": "not an event"})  # skipped, not fatal
        add_event(publisher.client, stream, "second")
        seen = []
        for event in publisher.actions("shop", stop_after=0.2, wait=0.1):
            seen.append(event)
            if event.action == "second":
                break  # handled, but the loop was left: "second" stays pending
        assert [(e.action, e.user_id, e.id, e.chat_id, e.message_id) for e in seen] == [
            ("first", 42, "order-17", 9001, 5),
            ("second", 42, "order-17", 9001, 5),
        ]
        again = [e.action for e in publisher.actions("shop", stop_after=0.2, wait=0.1)]
        assert again == ["second"]  # yielded again, then acknowledged
        assert [e.action for e in publisher.actions("shop", stop_after=0.2, wait=0.1)] == []
    finally:
        publisher.client.delete(stream)
        publisher.client.close()


async def test_consumers_of_one_group_get_different_action_events(
    redis_url: str, channel: str
) -> None:
    stream = f"{channel}-actions"
    sync = redis.Redis.from_url(redis_url)
    publisher = AsyncPublisher.from_url(redis_url, actions_stream=stream)
    try:
        for number in range(4):
            add_event(sync, stream, f"tap-{number}")
        one = []
        async for event in publisher.actions("shop", "web-1", stop_after=0.2, wait=0.1):
            one.append(event.action)
            break  # web-1 holds tap-0: handed out, not acknowledged
        two = [e.action async for e in publisher.actions("shop", "web-2", stop_after=0.2, wait=0.1)]
        assert one == ["tap-0"]
        assert two == ["tap-1", "tap-2", "tap-3"]  # web-2 never sees what web-1 holds
        assert (await publisher.client.xpending(stream, "shop"))["pending"] == 1
        with pytest.raises(ValueError, match="wait must be over 0"):
            publisher.actions("shop", wait=0)  # BLOCK 0 would wait for ever
    finally:
        sync.delete(stream)
        sync.close()
        await publisher.client.aclose()
