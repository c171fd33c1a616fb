"""The publisher a web app imports: same wire format as a bare PUBLISH, validation up front."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button, Published, Publisher, encode
from bot.store.chats import LinkedChat
from bot.store.client import priority_streams
from bot.store.deployment import BOT_ID
from bot.store.link_tokens import BOT_USERNAME, link_token_key
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.helpers import link_directly, next_json, token_of, wait_sent


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
    await registry.link(43, LinkedChat(-1001000000043, "channel"))
    async_publisher = AsyncPublisher(redis_client)
    sync_publisher = Publisher.from_url(redis_url)
    try:
        assert await async_publisher.is_linked(42)
        assert sync_publisher.is_linked(43)
        assert sync_publisher.chats(43) == ("private", "channel")
        assert await async_publisher.chats(43) == ("private", "channel")
        assert sync_publisher.unlink(43) is True  # every chat of the user
        assert await registry.user_for(-1001000000043) is None
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


async def test_links_for_a_group_and_tokens_for_a_channel_sync_and_async(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    async_publisher = AsyncPublisher(redis_client)
    sync_publisher = Publisher.from_url(redis_url)
    registry = ChatRegistry(redis_client)
    try:
        for link in (
            sync_publisher.create_link(42, group=True, bot_username="shop_bot"),
            await async_publisher.create_link(42, group=True, bot_username="shop_bot"),
        ):
            assert link.startswith("https://t.me/shop_bot?startgroup=")
            found = await registry.token(token_of(link))
            assert found is not None
            assert (found.user_id, found.kind) == (42, "group")
        for token in (
            sync_publisher.create_link_token(43, kind="channel"),
            await async_publisher.create_link_token(43, kind="channel"),
        ):
            found = await registry.token(token)
            assert found is not None
            assert (found.user_id, found.kind) == (43, "channel")
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


def stored(publisher: Publisher) -> dict[str, list[tuple[str, Any]]]:
    """What each priority's stream holds, as (entry id, payload); empty streams left out."""
    held = {}
    streams = priority_streams(publisher.stream)
    for priority, stream in zip(("high", "normal", "bulk"), streams, strict=True):
        entries: Any = publisher.client.xrange(stream)
        if entries:
            held[priority] = [(i.decode(), json.loads(f[b"payload"])) for i, f in entries]
    return held


async def call(
    publisher: Publisher | AsyncPublisher, method: str, *args: Any, **kwargs: Any
) -> Any:
    """`method` of either publisher, awaited if it is the async one's."""
    result = getattr(publisher, method)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def call_both(
    publishers: tuple[Publisher, AsyncPublisher], method: str, *args: Any, **kwargs: Any
) -> list[Any]:
    """`method` of the sync publisher, then of the async one, with the same arguments."""
    return [await call(publisher, method, *args, **kwargs) for publisher in publishers]


TRACK = [[Button.url("Track parcel", "https://shop.example/t/17")]]
TRACK_JSON = [[{"text": "Track parcel", "url": "https://shop.example/t/17"}]]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "priority", "payload"),
    [
        pytest.param(
            "enqueue", (42, "hi"), {}, "normal", {"user_id": 42, "message": "hi"}, id="enqueue"
        ),
        pytest.param(
            "enqueue",
            (42, "Code 1234"),
            {"priority": "high", "ttl": 300},
            "high",
            {"user_id": 42, "message": "Code 1234", "ttl": 300, "priority": "high"},
            id="enqueue-high",
        ),
        pytest.param(
            "edit",
            ("order-17", 42, "<b>Delivered</b>"),
            {"format": "html", "buttons": TRACK},
            "normal",
            {
                "op": "edit",
                "id": "order-17",
                "user_id": 42,
                "message": "<b>Delivered</b>",
                "format": "html",
                "buttons": TRACK_JSON,
            },
            id="edit",
        ),
        pytest.param(
            "edit",
            ("order-17", 42),
            {"buttons": []},  # only the buttons change: none left
            "normal",
            {"op": "edit", "id": "order-17", "user_id": 42, "buttons": []},
            id="edit-remove-buttons",
        ),
        pytest.param(
            "delete",
            ("order-17", 42),
            {},
            "normal",
            {"op": "delete", "id": "order-17", "user_id": 42},
            id="delete",
        ),
        pytest.param(
            "delete",
            ("order-17", 42),
            {"priority": "high"},
            "high",
            {"op": "delete", "id": "order-17", "user_id": 42, "priority": "high"},
            id="delete-high",
        ),
        pytest.param(
            "cancel", ("sale-1",), {}, "normal", {"op": "cancel", "id": "sale-1"}, id="cancel"
        ),
        pytest.param(
            "fan_out",
            ([1, 2, 3], "The sale starts now"),
            {"id": "sale-1", "receipts": "each"},
            "bulk",
            {
                "user_ids": [1, 2, 3],
                "message": "The sale starts now",
                "id": "sale-1",
                "receipts": "each",
            },
            id="fan-out",
        ),
        pytest.param(
            "fan_out",
            ("all", "Maintenance at 22:00"),
            {"priority": "normal", "silent": True},
            "normal",
            {
                "audience": "all",
                "message": "Maintenance at 22:00",
                "priority": "normal",
                "silent": True,
            },
            id="fan-out-all",
        ),
    ],
)
async def test_each_method_adds_its_json_to_the_stream_of_its_priority(
    publishers: tuple[Publisher, AsyncPublisher],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    priority: str,
    payload: dict[str, Any],
) -> None:
    entry_ids = await call_both(publishers, method, *args, **kwargs)
    assert stored(publishers[0]) == {priority: [(entry_ids[0], payload), (entry_ids[1], payload)]}


async def test_moments_are_sent_as_unix_seconds_and_deliver_at_counts_from_now(
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    sync, async_ = publishers
    expires = datetime.now(UTC) + timedelta(hours=2)
    deliver = datetime.now(UTC) + timedelta(hours=1)
    before = time.time()
    sync.enqueue(42, "a", expires_at=expires, deliver_at=60)  # seconds from now
    after = time.time()
    await async_.enqueue(42, "b", expires_at=expires.timestamp(), deliver_at=deliver.isoformat())
    await async_.enqueue(42, "c", deliver_at=deliver.astimezone(timezone(timedelta(hours=-5))))

    [(_, first), (_, second), (_, third)] = stored(sync)["normal"]
    assert first["expires_at"] == second["expires_at"] == expires.timestamp()
    assert before + 60 - 0.001 <= first["deliver_at"] <= after + 60 + 0.001
    assert second["deliver_at"] == third["deliver_at"] == deliver.timestamp()


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


PAST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE = datetime.now(UTC) + timedelta(days=1)
NAIVE = datetime(2030, 1, 1, 9, 0)  # no time zone: the mistake under test


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "problem"),
    [
        pytest.param("edit", (None, 42, "x"), {}, r"id: required with op edit", id="edit-no-id"),
        pytest.param("delete", (None, 42), {}, r"id: required with op delete", id="delete-no-id"),
        pytest.param("cancel", (None,), {}, r"id: required with op cancel", id="cancel-no-id"),
        pytest.param("cancel", ("",), {}, r"id: string should have at least 1", id="empty-id"),
        pytest.param("delete", ("k", None), {}, r"user_id: required with op delete", id="no-user"),
        pytest.param(
            "edit", ("k", 42), {}, r"op edit needs a message or buttons", id="edit-nothing"
        ),
        pytest.param(
            "enqueue", (42, "hi"), {"expires_at": PAST}, r"expires_at is in the past", id="past"
        ),
        pytest.param(
            "fan_out",
            ([1], "hi"),
            {"expires_at": time.time() - 1},
            r"expires_at is in the past",
            id="past-unix-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"expires_at": NAIVE},
            r"expires_at: needs a time zone",
            id="expires-at-naive",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": NAIVE},
            r"deliver_at: needs a time zone",
            id="deliver-at-naive",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": datetime.now(UTC) + timedelta(days=400)},
            r"deliver_at: more than a year ahead",
            id="deliver-at-too-far",
        ),
        pytest.param(
            "fan_out",
            ([1], "hi"),
            {"deliver_at": 400 * 24 * 3600},
            r"deliver_at: more than a year ahead",
            id="deliver-in-too-many-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": -5},
            r"deliver_at: seconds from now must be 0 or more",
            id="deliver-in-negative-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": 120, "ttl": 60},
            r"deliver_at: not before it expires",
            id="deliver-after-expiry",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"ttl": 60, "expires_at": FUTURE},
            r"ttl and expires_at: give one of them, not both",
            id="ttl-and-expires-at",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"priority": "urgent"},
            r"priority: input should be 'high', 'normal' or 'bulk'",
            id="unknown-priority",
        ),
        pytest.param(
            "delete",
            ("k", 42),
            {"priority": "urgent"},
            r"priority: input should be",
            id="unknown-priority-delete",
        ),
        pytest.param(
            "fan_out", ([], "hi"), {}, r"user_ids: must not be empty", id="user-ids-empty"
        ),
        pytest.param(
            "fan_out",
            (list(range(10_001)), "hi"),
            {},
            r"user_ids: 10001 ids, over the limit of 10000",
            id="user-ids-over-10000",
        ),
        pytest.param(
            "fan_out",
            ([1, "2"], "hi"),
            {},
            r"user_ids\.1: input should be a valid integer",
            id="user-ids-not-integers",
        ),
        pytest.param(
            "fan_out",
            ("1,2", "hi"),
            {},
            r"user_ids: input should be a valid list",
            id="user-ids-a-string",
        ),
        pytest.param(
            "fan_out",
            ([1, 2], "hi"),
            {"user_id": 42},
            r"user_id and user_ids/audience: give one of them, not both",
            id="user-ids-and-user-id",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"user_ids": [1, 2]},
            r"user_id and user_ids/audience: give one of them, not both",
            id="user-id-and-user-ids",
        ),
    ],
)
async def test_a_bad_call_is_one_line_naming_the_field_and_writes_nothing(
    publishers: tuple[Publisher, AsyncPublisher],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    problem: str,
) -> None:
    for publisher in publishers:
        with pytest.raises(ValueError, match=rf"^invalid notification: {problem}") as caught:
            await call(publisher, method, *args, **kwargs)
        assert "\n" not in str(caught.value)
    assert stored(publishers[0]) == {}


async def test_publish_queues_on_the_stream_of_its_priority_and_still_reads_as_a_count(
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    """The default is the durable stream: one receiver (the bot's consumer group), the entry
    id beside it; old callers' `> 0`, truthiness and `== 1` keep working."""
    published = await call_both(publishers, "publish", 42, "hi", priority="high")
    payload = {"user_id": 42, "message": "hi", "priority": "high"}
    assert stored(publishers[0]) == {"high": [(p.entry_id, payload) for p in published]}
    for each in published:
        assert isinstance(each, Published)
        assert each == 1
        assert each > 0
        assert each
        assert str(each) == "1"
        assert repr(each) == f"Published(1, entry_id={each.entry_id!r})"


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


async def test_a_bot_started_after_publish_still_delivers_it(
    settings: Settings,
    telegram: FakeTelegram,
    redis_url: str,
    redis_client: redis.asyncio.Redis,
) -> None:
    """publish() waits in Redis while no bot listens (a leader change, a restart), where a
    notification on the channel would be lost."""
    with redis.Redis.from_url(redis_url) as sync:
        link_directly(sync, telegram, range(42, 43), chat_base=9000)
    publisher = AsyncPublisher(
        redis_client, settings.notification_channel, settings.notification_stream
    )
    assert await redis_client.pubsub_numsub(settings.notification_channel) == [
        (settings.notification_channel.encode(), 0)
    ]
    published = await publisher.publish(42, "published while no bot ran")
    assert published == 1

    running = await start_bot(settings)
    try:
        [sent] = await wait_sent(telegram, chat_id=9042)
        assert sent.text == "published while no bot ran"
    finally:
        await running.shutdown()
