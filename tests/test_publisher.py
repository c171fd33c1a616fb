"""The publisher a web app imports: same wire format as a bare PUBLISH, validation up front."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.publisher import AsyncPublisher, Publisher, encode
from bot.store.registry import BOT_USERNAME, ChatRegistry, link_token_key
from tests.helpers import next_json, token_of


@pytest.fixture
async def subscriber(
    redis_client: redis.asyncio.Redis, channel: str
) -> AsyncIterator[redis.asyncio.client.PubSub]:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    async with pubsub:
        yield pubsub


def test_the_payload_is_the_documented_json() -> None:
    assert json.loads(encode(42, "Your order is on its way!")) == {
        "user_id": 42,
        "message": "Your order is on its way!",
    }


@pytest.mark.parametrize(
    ("user_id", "message", "problem"),
    [
        ("42", "hi", "user_id"),
        (42, "", "message: must not be empty"),
        (42, None, "message"),
    ],
)
def test_a_bad_call_raises_value_error_in_the_web_app(
    user_id: object, message: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"invalid notification: .*{problem}"):
        encode(user_id, message)  # type: ignore[arg-type]


async def test_sync_publish_returns_receivers_and_sends_the_payload(
    redis_url: str, channel: str, subscriber: redis.asyncio.client.PubSub
) -> None:
    publisher = Publisher.from_url(redis_url, channel)
    try:
        assert publisher.publish(42, "hi") == 1
    finally:
        publisher.client.close()
    assert await next_json(subscriber) == {"user_id": 42, "message": "hi"}


async def test_async_publish_returns_receivers_and_sends_the_payload(
    redis_url: str, channel: str, subscriber: redis.asyncio.client.PubSub
) -> None:
    publisher = AsyncPublisher.from_url(redis_url, channel)
    async with publisher.client:
        assert await publisher.publish(7, "hello") == 1
    assert await next_json(subscriber) == {"user_id": 7, "message": "hello"}


async def test_publishing_with_no_bot_running_reports_zero_receivers(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    assert await AsyncPublisher(redis_client, channel + "-empty").publish(1, "hi") == 0


async def test_create_link_uses_the_username_the_bot_recorded(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await redis_client.set(BOT_USERNAME, "shop_bot")
    async_link = await AsyncPublisher(redis_client).create_link(42, ttl=120)
    sync_publisher = Publisher.from_url(redis_url)
    try:
        sync_link = sync_publisher.create_link(43)
    finally:
        sync_publisher.client.close()

    for link, user_id in ((async_link, 42), (sync_link, 43)):
        assert link.startswith("https://t.me/shop_bot?start=")
        assert await redis_client.get(link_token_key(token_of(link))) == str(user_id).encode()
    assert await redis_client.ttl(link_token_key(token_of(async_link))) <= 120


async def test_create_link_without_a_known_username_says_what_to_do(
    redis_client: redis.asyncio.Redis,
) -> None:
    with pytest.raises(LookupError, match="start the bot once"):
        await AsyncPublisher(redis_client).create_link(42)
    assert await redis_client.dbsize() == 0  # no orphan token was stored
    link = await AsyncPublisher(redis_client).create_link(42, bot_username="given_bot")
    assert link.startswith("https://t.me/given_bot?start=")


def test_sync_enqueue_adds_a_stream_entry(redis_url: str, channel: str) -> None:
    publisher = Publisher.from_url(redis_url, stream=f"{channel}-stream", stream_maxlen=5000)
    try:
        publisher.client.delete(publisher.stream)
        entry_id = publisher.enqueue(42, "durable", id="k-1")
        entries: Any = publisher.client.xrange(publisher.stream)
        [(stored_id, fields)] = entries
        assert stored_id.decode() == entry_id
        assert json.loads(fields[b"payload"]) == {"user_id": 42, "message": "durable", "id": "k-1"}
        with pytest.raises(ValueError, match="id"):
            publisher.enqueue(42, "x", id="")
    finally:
        publisher.client.delete(publisher.stream)
        publisher.client.close()


async def test_is_linked_and_unlink_work_sync_and_async(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    """What a web app uses to show "Telegram connected" and to drop a deleted account's link."""
    registry = ChatRegistry(redis_client)
    await registry.link(42, 9001)
    await registry.link(43, 9002)
    async_publisher = AsyncPublisher(redis_client)
    sync_publisher = Publisher.from_url(redis_url)
    try:
        assert await async_publisher.is_linked(42)
        assert sync_publisher.is_linked(43)
        assert sync_publisher.unlink(43) is True
        assert sync_publisher.unlink(43) is False
        assert await async_publisher.unlink(42) is True
        assert await async_publisher.unlink(42) is False
        assert not await async_publisher.is_linked(42)
        assert not sync_publisher.is_linked(43)
        assert await registry.user_for(9001) is None
        assert await registry.user_for(9002) is None
        assert await registry.linked_count() == 0
    finally:
        sync_publisher.client.close()
