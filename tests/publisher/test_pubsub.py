"""Publishing on the pub/sub channel: receivers counted, the payload sent, the deployment named."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from bot.publisher import AsyncPublisher, Publisher
from bot.store.deployment import BOT_ID
from tests.helpers import next_json
from tests.publisher.calls import call_both, stored


@pytest.fixture
async def subscriber(
    redis_client: redis.asyncio.Redis, channel: str
) -> AsyncIterator[redis.asyncio.client.PubSub]:
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    async with pubsub:
        yield pubsub


async def test_sync_publish_via_pubsub_returns_receivers_and_sends_the_payload(
    redis_url: str, channel: str, subscriber: redis.asyncio.client.PubSub
) -> None:
    publisher = Publisher.from_url(redis_url, channel)
    try:
        published = publisher.publish(42, "hi", via="pubsub")
        assert (published, published.entry_id) == (1, None)
    finally:
        publisher.client.close()
    assert await next_json(subscriber) == {"user_id": 42, "message": "hi"}


async def test_async_publish_via_pubsub_returns_receivers_and_sends_the_payload(
    redis_url: str, channel: str, subscriber: redis.asyncio.client.PubSub
) -> None:
    publisher = AsyncPublisher.from_url(redis_url, channel)
    async with publisher.client:
        published = await publisher.publish(7, "hello", via="pubsub")
        assert (published, published.entry_id) == (1, None)
    assert await next_json(subscriber) == {"user_id": 7, "message": "hello"}


async def test_publishing_via_pubsub_with_no_bot_running_reports_zero_receivers(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    publisher = AsyncPublisher(redis_client, channel + "-empty")
    assert not await publisher.publish(1, "hi", via="pubsub")


async def test_publish_via_pubsub_sends_the_new_fields_on_the_channel_not_the_streams(
    publishers: tuple[Publisher, AsyncPublisher], subscriber: redis.asyncio.client.PubSub
) -> None:
    """The bot orders pub/sub notifications by priority in memory: no stream is involved."""
    receivers = await call_both(
        publishers, "publish", 42, "hi", via="pubsub", priority="high", ttl=30
    )
    assert receivers == [1, 1]
    for _ in publishers:
        assert await next_json(subscriber) == {
            "user_id": 42,
            "message": "hi",
            "ttl": 30,
            "priority": "high",
        }
    assert stored(publishers[0]) == {}


async def test_a_publisher_without_a_stream_publishes_on_the_channel(
    redis_client: redis.asyncio.Redis, channel: str, subscriber: redis.asyncio.client.PubSub
) -> None:
    publisher = AsyncPublisher(redis_client, channel, stream="")
    published = await publisher.publish(42, "no stream here")
    assert (published, published.entry_id) == (1, None)
    assert await next_json(subscriber) == {"user_id": 42, "message": "no stream here"}


async def test_publish_via_pubsub_names_the_deployment_of_its_database(
    redis_url: str,
    redis_client: redis.asyncio.Redis,
    channel: str,
    subscriber: redis.asyncio.client.PubSub,
) -> None:
    """Channels are server-wide: the payload says which bot and database it is meant for."""
    database = redis_client.connection_pool.connection_kwargs.get("db", 0)
    await redis_client.set(BOT_ID, "123456789")  # what a bot writes at start
    sync = Publisher.from_url(redis_url, channel)
    try:
        await call_both(
            (sync, AsyncPublisher(redis_client, channel)), "publish", 42, "hi", via="pubsub"
        )
    finally:
        sync.client.close()
    for _ in range(2):
        assert await next_json(subscriber) == {
            "user_id": 42,
            "message": "hi",
            "deployment": f"123456789/{database}",
        }
