"""The publisher a web app imports: same wire format as a bare PUBLISH, validation up front."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.publisher import AsyncPublisher, Button, Publisher, encode
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


def test_every_field_has_a_keyword_and_only_what_is_set_is_sent() -> None:
    payload = json.loads(
        encode(
            42,
            "<b>Order #17</b> shipped",
            id="order-17",
            format="html",
            buttons=[
                [Button.url("Track parcel", "https://shop.example/t/17")],
                [Button.action("Received it", "order-17:received")],
            ],
            silent=True,
            preview=False,
            protect=False,  # the default: left out
            thread_id=7,
            photo="https://shop.example/p/17.jpg",
        )
    )
    assert payload == {
        "user_id": 42,
        "message": "<b>Order #17</b> shipped",
        "id": "order-17",
        "format": "html",
        "buttons": [
            [{"text": "Track parcel", "url": "https://shop.example/t/17"}],
            [{"text": "Received it", "action": "order-17:received"}],
        ],
        "silent": True,
        "preview": False,
        "thread_id": 7,
        "photo": "https://shop.example/p/17.jpg",
    }


def test_a_bad_field_is_refused_in_the_web_app_by_the_bots_own_rules() -> None:
    with pytest.raises(ValueError, match=r"message: unclosed <b> at character 1$"):
        encode(42, "<b>Order", format="html")
    with pytest.raises(ValueError, match=r"buttons\.0\.0: .javascript:x. is not an http"):
        encode(42, "hi", buttons=[[Button.url("Evil", "javascript:x")]])


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
