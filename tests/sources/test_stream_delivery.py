"""Durable mode end to end: what is XADDed is delivered and acknowledged, once, by priority."""

from __future__ import annotations

import json
import time

import redis
import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher
from bot.store.deadletters import DeadLetterStore
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, next_json, plain_publish, report, wait_sent
from tests.sources.streams import _none_pending, linked_earlier, plain_xadd
from tests.waiting import eventually


async def test_a_plain_xadd_is_delivered_and_acknowledged(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    plain_xadd(settings, {"user_id": 42, "message": "durable hello"})
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "durable hello")
    await eventually(lambda: _none_pending(redis_client, settings))


async def test_entries_added_before_the_bot_first_starts_are_delivered(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    publisher = AsyncPublisher(redis_client, stream=settings.notification_stream)
    await linked_earlier(redis_client, telegram, user_id=42, chat_id=9001)
    for i in range(3):
        await publisher.enqueue(42, f"queued {i}")

    running = await start_bot(settings)
    try:
        sent = await wait_sent(telegram, chat_id=9001, count=3)
        assert [m.text for m in sent] == ["queued 0", "queued 1", "queued 2"]
    finally:
        await running.shutdown()


async def test_a_bad_entry_is_acknowledged_dead_lettered_and_the_next_delivered(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    plain_xadd(settings, '{"user_id": "forty-two"}')
    plain_xadd(settings, {"user_id": 42, "message": "good one"})
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "good one")
    await eventually(lambda: _none_pending(redis_client, settings))
    [dead] = await running_bot.bot.dead_letters.latest()
    assert dead.payload == '{"user_id": "forty-two"}'
    assert dead.source == "stream"
    assert "user_id" in dead.reason


async def test_the_same_id_on_both_sources_is_delivered_once(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    publisher = AsyncPublisher(
        redis_client, settings.notification_channel, settings.notification_stream
    )
    await publisher.enqueue(42, "exactly once", id="invoice-99")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "exactly once")
    await publisher.publish(42, "exactly once", id="invoice-99")
    await publisher.enqueue(42, "exactly once", id="invoice-99")
    await publisher.publish(42, "marker")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "marker")
    await eventually(lambda: running_bot.bot.stats.outcomes[Outcome.DUPLICATE] == 2)
    assert [m.text for m in telegram.sent].count("exactly once") == 1


async def test_every_final_outcome_publishes_a_receipt(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    await link_chat(telegram, redis_client, user_id=43, chat_id=9002)
    telegram.block(9002, notify=False)  # only the 403 tells
    channel = settings.notification_channel
    plain_publish(settings.redis_url, channel, {"user_id": 42, "message": "hi", "id": "a"})
    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "hi")
    assert await next_json(receipts) == {
        "id": "a",
        "user_id": 42,
        "status": "sent",
        "message_ids": [sent.message_id],
        "chats": [{"chat": "private", "status": "sent", "message_ids": [sent.message_id]}],
    }
    plain_publish(settings.redis_url, channel, {"user_id": 7, "message": "hi"})
    assert await next_json(receipts) == {
        "id": None,
        "user_id": 7,
        "status": "unlinked",
        "message_ids": [],
    }
    plain_publish(settings.redis_url, channel, {"user_id": 43, "message": "hi", "id": "b"})
    assert await next_json(receipts) == {
        "id": "b",
        "user_id": 43,
        "status": "blocked",
        "message_ids": [],
        "chats": [
            {
                "chat": "private",
                "status": "blocked",
                "message_ids": [],
                "reason": "Forbidden: bot was blocked by the user",
            }
        ],
    }
    plain_publish(settings.redis_url, channel, "garbage")
    assert await next_json(receipts) == {
        "id": None,
        "user_id": None,
        "status": "invalid",
        "message_ids": [],
    }
    await running_bot.bot.registry.link(44, 555)  # a chat Telegram does not know
    plain_publish(settings.redis_url, channel, {"user_id": 44, "message": "hi"})
    assert await next_json(receipts) == {
        "id": None,
        "user_id": 44,
        "status": "failed",
        "message_ids": [],
        "chats": [
            {"chat": "private", "status": "failed", "message_ids": [], "reason": "Chat not found"}
        ],
    }


async def test_a_dead_letter_can_be_replayed_once_the_cause_is_fixed(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await running_bot.bot.registry.link(42, 777)  # Telegram does not know chat 777 yet
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "again"}
    )
    store = DeadLetterStore(redis_client, 100)
    await eventually(lambda: _count_is(store, 1))
    [dead] = await store.latest()
    assert (dead.reason, dead.attempts, dead.source) == ("Chat not found", 1, "pubsub")

    telegram.add_chat(777)
    assert (await store.replay([dead.id], settings.notification_stream, 1000)).moved == 1

    await wait_sent(telegram, chat_id=777, predicate=lambda m: m.text == "again")
    assert await store.count() == 0


async def _count_is(store: DeadLetterStore, expected: int) -> bool:
    return await store.count() == expected


async def test_acknowledged_entries_are_trimmed(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    for i in range(20):
        plain_xadd(settings, {"user_id": 42, "message": f"n{i}"})
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "n19")
    await eventually(lambda: _none_pending(redis_client, settings))
    assert running_bot.bot.stream is not None
    await running_bot.bot.stream.trim()
    assert await redis_client.xlen(settings.notification_stream) <= 1


async def test_a_priority_in_the_payload_counts_wherever_the_entry_was_added(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """A web app in another language XADDs everything to `notifications`: 1,500 bulk ones,
    then 5 high ones. The high ones are moved to the high stream as they are read and each
    goes out within 2 s of its XADD, not behind the bulk backlog (50 s at 30/s)."""
    for user in range(1, 51):
        await linked_earlier(redis_client, telegram, user_id=user, chat_id=60_000 + user)
    await linked_earlier(redis_client, telegram, user_id=99, chat_id=60_099)
    # The bulk backlog is left in Redis at the end, not drained for SHUTDOWN_TIMEOUT.
    running = await start_bot(settings.model_copy(update={"shutdown_timeout": 0.5}))
    try:
        pipe = redis_client.pipeline(transaction=False)
        for n in range(1500):
            note = {"user_id": n % 50 + 1, "message": f"bulk {n}", "priority": "bulk"}
            pipe.xadd(settings.notification_stream, {"payload": json.dumps(note)})
        await pipe.execute()
        added = {}
        for n in range(5):
            added[f"urgent {n}"] = time.time()
            plain_xadd(settings, {"user_id": 99, "message": f"urgent {n}", "priority": "high"})
        urgent = await wait_sent(
            telegram, predicate=lambda m: m.text.startswith("urgent"), count=5, timeout=10
        )
        waited = [m.at - added[m.text] for m in urgent]
        bulk_before = len([m for m in telegram.sent if m.text.startswith("bulk")])
        report(f"5 high behind 1,500 bulk on one stream: sent after {max(waited):.2f} s at most")
        assert [m.text for m in urgent] == [f"urgent {n}" for n in range(5)]
        assert max(waited) < 2.0
        assert bulk_before < 1500
    finally:
        await running.shutdown()
