"""The registry's link events: each change reported once, in the change's transaction, capped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import fakeredis
import redis.asyncio

from bot.publisher import Publisher
from bot.store.link_events import LinkEvents
from bot.store.registry import ChatRegistry, Linking
from tests.link_events import (
    Seen,
    link_events_stream,  # noqa: F401 - the fixture `stream`
)

FAKE_STREAM = "links"


async def events_in(client: redis.asyncio.Redis, stream: str) -> Seen:
    entries: Any = await client.xrange(stream)
    payloads = [json.loads(fields[b"payload"]) for _id, fields in entries]
    return [(p["type"], p["user_id"], p["reason"]) for p in payloads]


async def test_the_registry_reports_each_change_once_and_no_change_never(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, LinkEvents(FAKE_STREAM))
    token = await registry.create_link_token(1, 60)
    assert (await registry.redeem(token, 100)).status is Linking.LINKED
    assert (await registry.redeem(token, 200)).status is Linking.INVALID  # used
    assert await registry.unlink_chat(555, reason="stop") is None  # never linked
    assert await registry.unlink_user(9, reason="admin") == ()
    await registry.link(1, 101)  # a group's migration: the link follows it
    assert await registry.unlink_chat(101, reason="blocked") == 1
    assert await registry.unlink_chat(101, reason="blocked") is None

    assert await events_in(fake_redis, FAKE_STREAM) == [
        ("linked", 1, "start"),
        ("unlinked", 1, "blocked"),
    ]


async def test_a_link_that_takes_a_chat_from_another_user_reports_that_user(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, LinkEvents(FAKE_STREAM))
    await registry.link(1, 100)
    await registry.link(2, 100)  # no deep link, but user 1 loses the chat all the same
    assert await events_in(fake_redis, FAKE_STREAM) == [("unlinked", 1, "relinked")]
    assert await registry.chats_for(1) == ()


async def test_the_publishers_unlink_reports_on_its_own_stream() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server)
    sync = Publisher(fakeredis.FakeRedis(server=server), link_events_stream=FAKE_STREAM)
    try:
        await ChatRegistry(client).link(42, 9001)
        assert sync.unlink(42) is True
        assert sync.unlink(42) is False
        assert await events_in(client, FAKE_STREAM) == [("unlinked", 42, "web_app")]
    finally:
        sync.client.close()
        await client.aclose()


async def test_racing_changes_give_one_event_each(
    redis_client: redis.asyncio.Redis, stream: str
) -> None:
    """WATCH/MULTI: a transaction that lost the race is discarded, its event with it."""
    registry = ChatRegistry(redis_client, LinkEvents(stream))
    token = await registry.create_link_token(42, 60)
    redeemed = await asyncio.gather(*(registry.redeem(token, 9000 + n) for n in range(20)))
    assert len([link for link in redeemed if link.status is Linking.LINKED]) == 1
    unlinked = await asyncio.gather(*(registry.unlink_user(42, reason="admin") for _ in range(20)))
    assert len([chats for chats in unlinked if chats]) == 1

    assert await events_in(redis_client, stream) == [
        ("linked", 42, "start"),
        ("unlinked", 42, "admin"),
    ]


async def test_the_stream_is_capped(redis_client: redis.asyncio.Redis, stream: str) -> None:
    events = LinkEvents(stream, maxlen=1000)
    async with redis_client.pipeline(transaction=False) as pipe:
        for user_id in range(3000):
            events.queue(pipe, "linked", user_id, "start")
        await pipe.execute()
    # MAXLEN ~ trims whole nodes of entries (100 each by default), never below the cap.
    assert 1000 <= await redis_client.xlen(stream) < 1200
