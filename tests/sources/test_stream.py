"""Durable mode end to end: a Redis Stream read through a consumer group, real Redis, emulator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis
import redis.asyncio

from bot import app, runtime
from bot.cluster.liveness import DEAD_AFTER, INSTANCES_KEY, Heartbeat
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.pipeline.envelope import Envelope
from bot.pipeline.settle import DELIVERED_PREFIX
from bot.publisher import AsyncPublisher
from bot.sources.stream import StreamConsumer
from bot.store.deadletters import DeadLetterStore
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, next_json, plain_publish, report, wait_sent
from tests.waiting import eventually


def plain_xadd(settings: Settings, payload: object) -> str:
    """What any language can do: XADD one entry with a `payload` field holding the JSON."""
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        entry = client.xadd(settings.notification_stream, {"payload": data})
        return entry.decode() if isinstance(entry, bytes) else str(entry)
    finally:
        client.close()


async def linked_earlier(
    client: redis.asyncio.Redis, telegram: FakeTelegram, *, user_id: int, chat_id: int
) -> None:
    """A link made before this test's bot started (no /start exchange needed)."""
    await ChatRegistry(client).link(user_id, chat_id)
    telegram.add_chat(chat_id)


async def left_pending(
    client: redis.asyncio.Redis,
    telegram: FakeTelegram,
    settings: Settings,
    notification: dict[str, object],
    *,
    consumer: str,
) -> bytes:
    """The state a dead consumer leaves: user 42 linked to chat 9001, and `notification` read
    from the stream by `consumer` but never acknowledged. Returns the entry id."""
    stream, group = settings.notification_stream, settings.stream_group
    await client.xgroup_create(stream, group, id="0", mkstream=True)
    await linked_earlier(client, telegram, user_id=42, chat_id=9001)
    plain_xadd(settings, notification)
    read: Any = await client.xreadgroup(group, consumer, {stream: ">"})
    [(_stream, [(entry_id, _fields)])] = read
    return bytes(entry_id)


async def pending(client: redis.asyncio.Redis, settings: Settings) -> int:
    summary = await client.xpending(settings.notification_stream, settings.stream_group)
    return int(summary["pending"])


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


async def _none_pending(client: redis.asyncio.Redis, settings: Settings) -> bool:
    return await pending(client, settings) == 0


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


async def test_entries_a_dead_consumer_left_pending_are_claimed_and_delivered(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    stream, group = settings.notification_stream, settings.stream_group
    notification = {"user_id": 42, "message": "orphaned"}
    entry_id = await left_pending(
        redis_client, telegram, settings, notification, consumer="crashed-worker"
    )
    assert await pending(redis_client, settings) == 1
    # Read a moment ago, but its instance never said it is alive (no heartbeat): dead, and
    # taken over once this bot has been connected for DEAD_AFTER, not after an idle time.
    async with asyncio.timeout(DEAD_AFTER + 5):
        running = await start_bot(settings)
        try:
            await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "orphaned")
            await eventually(lambda: _none_pending(redis_client, settings))
        finally:
            await running.shutdown()
    del entry_id, stream, group


async def test_a_live_instances_entries_are_never_taken_over(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """An entry read by an instance that is alive (its heartbeat fresh) and still holds it (a
    send waiting out a flood limit or an outage) stays its own, however long it waits: taking
    it over would send it twice. The new leader waits idle (it spun on a core, pub/sub ready
    and the stream not)."""
    notification = {"user_id": 42, "message": "held by a live one"}
    await left_pending(redis_client, telegram, settings, notification, consumer="alive-worker")
    bot_id = telegram.token.split(":")[0]
    key = INSTANCES_KEY.format(bot_id=bot_id)
    beat = Heartbeat(redis_client, key, "alive-worker", lambda: 1)
    beating = asyncio.create_task(beat.run())
    await eventually(lambda: beat.connected_for() > 0)
    bot, stop = app.build(settings), asyncio.Event()
    running = RunningBot(bot, stop, asyncio.create_task(runtime.serve(bot, stop)))
    try:
        # The new leader waits for the live one to let go, and takes nothing meanwhile.
        await eventually(lambda: bot.leadership.is_leader)
        cpu = time.process_time()
        # Past the time a dead one's would be taken, by the clock that decides it.
        await eventually(lambda: bot.heartbeat.connected_for() > DEAD_AFTER + 1, within=10)
        assert time.process_time() - cpu < 1.0  # of the seconds waited (4 s spinning)
        assert not [m for m in telegram.sent if m.text == "held by a live one"]
        assert await pending(redis_client, settings) == 1
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
    try:
        # Its heartbeat gone (it stopped cleanly, holding the entry): taken over, sent once.
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "held by a live one")
    finally:
        await running.shutdown()


async def test_a_restarted_consumer_resumes_its_own_pending_entries(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    notification = {"user_id": 42, "message": "read before the crash"}
    await left_pending(
        redis_client, telegram, settings, notification, consumer=settings.stream_consumer
    )

    running = await start_bot(settings)  # same consumer name, no waiting for idle time
    try:
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: "before the crash" in m.text)
    finally:
        await running.shutdown()


async def test_an_id_sent_before_a_crash_is_not_sent_again(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """The state a crash between send and acknowledge leaves: the id is marked as delivered,
    the entry still pending. The restarted bot acknowledges it without sending."""
    notification = {"user_id": 42, "message": "already sent", "id": "order-7"}
    await left_pending(
        redis_client, telegram, settings, notification, consumer=settings.stream_consumer
    )
    await redis_client.set(DELIVERED_PREFIX + "order-7", "1")

    running = await start_bot(settings)
    try:
        await eventually(lambda: _none_pending(redis_client, settings))
        assert running.bot.stats.outcomes[Outcome.DUPLICATE] == 1
        assert telegram.calls_to("sendMessage") == []
    finally:
        await running.shutdown()


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


async def test_unsent_pubsub_notifications_are_handed_back_to_the_stream_at_shutdown(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    # The send waiting out the 429 counts as under way: the drain gives it a Telegram timeout.
    quick_exit = settings.model_copy(update={"shutdown_timeout": 0.3, "telegram_timeout": 1.0})
    running = await start_bot(quick_exit)
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    # Telegram asks for a long wait: the send cannot finish before shutdown.
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 30", parameters={"retry_after": 30}
    )
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "kept"}
    )
    await asyncio.to_thread(telegram.wait_for_call, "sendMessage", count=2)
    await running.shutdown()
    assert not [m for m in telegram.sent if m.text == "kept"]

    restarted = await start_bot(settings)
    try:
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "kept")
    finally:
        await restarted.shutdown()


async def test_entries_waiting_out_a_flood_limit_are_not_claimed_by_another_instance(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """Two instances share the stream; one chat may get 1 message a second, so entries wait
    in the instance that read them for longer than the claim time. The other instance must
    not take them over as if their consumer had died: each is sent once."""
    paced = settings.model_copy(
        update={
            "telegram_chat_burst": 1,
            "telegram_chat_per_second": 1.0,
        }
    )
    await linked_earlier(redis_client, telegram, user_id=42, chat_id=9001)
    first = await start_bot(paced.model_copy(update={"stream_consumer": "worker.1"}))
    second = await start_bot(paced.model_copy(update={"stream_consumer": "worker.2"}))
    try:
        for n in range(6):
            plain_xadd(paced, {"user_id": 42, "message": f"paced {n}"})
        sent = await wait_sent(telegram, chat_id=9001, count=6, timeout=20)
        await asyncio.sleep(2.5)  # a claim of an entry still waiting would have sent it again
        texts = [m.text for m in telegram.sent if m.chat_id == 9001]
        assert sorted(texts) == sorted(m.text for m in sent) == [f"paced {n}" for n in range(6)]
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_consumers_that_left_nothing_behind_are_forgotten(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    """Processes without a stable name each leave a consumer in the group; one that holds no
    entry and has not read for a while is removed, the running one and busy ones are not."""
    stream, group = f"{channel}-s", "notify-bot"
    await redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    await redis_client.xgroup_createconsumer(stream, group, "gone-1")
    await redis_client.xadd(stream, {"payload": "x"})
    await redis_client.xreadgroup(group, "busy-1", {stream: ">"})  # holds one entry

    async def nothing(envelope: Envelope) -> None:
        return None

    consumer = StreamConsumer(
        redis_client,
        stream,
        group,
        "me",
        nothing,
        maintain_every=0.1,
        forget_after=0.2,
    )
    task = asyncio.create_task(consumer.run())
    try:

        async def names() -> set[str]:
            found = await redis_client.xinfo_consumers(stream, group)
            return {c["name"].decode() for c in found}

        await eventually(lambda: _lacks(names, "gone-1"), within=5)
        assert {"busy-1", "me"} <= await names()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _lacks(names: Any, name: str) -> bool:
    return name not in await names()


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
