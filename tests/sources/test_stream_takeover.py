"""Entries a crashed, stopped or busy consumer holds: resumed, claimed or left alone."""

from __future__ import annotations

import asyncio
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
from bot.sources.stream import StreamConsumer
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, plain_publish, wait_sent
from tests.sources.streams import _none_pending, linked_earlier, pending, plain_xadd
from tests.waiting import eventually


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
