"""The Redis listener against the real server: reconnects after a cut, a silence or an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.pipeline.envelope import PUBSUB, Envelope
from bot.sources.presence import other_deployments
from bot.sources.pubsub import RedisListener
from bot.store.deployment import BOT_ID
from bot.tools.redis_server import RedisServer
from tests.waiting import eventually


class Received:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        assert envelope.source == PUBSUB
        assert isinstance(envelope.payload, bytes)
        self.payloads.append(envelope.payload)
        self.changed.set()

    async def wait_for(self, payload: bytes) -> None:
        async with asyncio.timeout(10):
            while payload not in self.payloads:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def named_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client whose connections carry a unique name, so the test can find and kill them."""
    client = redis.asyncio.Redis.from_url(redis_url, client_name=f"listener-{uuid.uuid4().hex}")
    yield client
    await client.aclose()


async def pubsub_ids(admin: redis.asyncio.Redis, name: str) -> list[int]:
    clients = await admin.client_list()
    return [int(c["id"]) for c in clients if c["name"] == name and int(c["sub"]) > 0]


async def test_it_delivers_and_recovers_after_its_connection_is_killed(
    named_client: redis.asyncio.Redis, redis_client: redis.asyncio.Redis, channel: str
) -> None:
    received = Received()
    listener = RedisListener(named_client, channel, received, backoff_base=0.05)
    task = asyncio.create_task(listener.run())
    name = named_client.connection_pool.connection_kwargs["client_name"]
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        await redis_client.publish(channel, b"before")
        await received.wait_for(b"before")
        [old_id] = await pubsub_ids(redis_client, name)

        with capture_logs() as logs:
            await redis_client.client_kill_filter(_id=str(old_id))

            async def resubscribed() -> bool:
                ids = await pubsub_ids(redis_client, name)
                return bool(ids) and ids != [old_id]

            await eventually(resubscribed)
            await eventually(listener.subscribed.is_set)
            await redis_client.publish(channel, b"after")
            await received.wait_for(b"after")
        events = {entry["event"] for entry in logs}
        assert events & {"redis_resubscribed", "redis_recovered"}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_silent_connection_is_detected_by_ping_and_replaced(
    named_client: redis.asyncio.Redis, redis_client: redis.asyncio.Redis, channel: str
) -> None:
    """CLIENT PAUSE makes Redis hold every reply, as a half-open connection would."""
    received = Received()
    listener = RedisListener(
        named_client, channel, received, idle_ping_after=0.2, pong_timeout=0.3, backoff_base=0.05
    )
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        with capture_logs() as logs:
            await redis_client.client_pause(1500, all=True)
            await eventually(lambda: any(e["event"] == "redis_recovered" for e in logs))
        [outage] = [e for e in logs if e["event"] == "redis_unavailable"][:1]
        assert "no reply to PING" in outage["error"]
        await redis_client.publish(channel, b"after pause")
        await received.wait_for(b"after pause")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_an_unreachable_redis_is_retried_with_growing_delays_until_cancelled(
    channel: str,
) -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    listener = RedisListener(client, channel, Received(), backoff_base=0.01, backoff_max=0.08)
    with capture_logs() as logs:
        task = asyncio.create_task(listener.run())
        await eventually(lambda: sum(e["event"] == "redis_unavailable" for e in logs) >= 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await client.aclose()
    attempts = [e for e in logs if e["event"] == "redis_unavailable"]
    assert [e["attempt"] for e in attempts[:5]] == [1, 2, 3, 4, 5]
    assert attempts[4]["retry_in"] >= attempts[0]["retry_in"]
    assert not listener.subscribed.is_set()


async def test_a_new_term_as_leader_starts_with_no_outage_behind_it(
    channel: str, own_redis: RedisServer
) -> None:
    """The leader runs the listener again each time it wins the lock. An outage that ended its
    last term (it stepped down while Redis was away) is not reported as recovered in the next:
    that would count a reconnect and an outage as long as the whole standby."""
    client = redis.asyncio.Redis.from_url(own_redis.url, socket_connect_timeout=1)
    reconnects: list[bool] = []
    listener = RedisListener(
        client,
        channel,
        Received(),
        backoff_base=0.01,
        backoff_max=0.02,
        on_reconnect=lambda: reconnects.append(True),
    )
    with capture_logs() as logs:
        first_term = asyncio.create_task(listener.run())  # Redis is not started yet
        await eventually(lambda: sum(e["event"] == "redis_unavailable" for e in logs) >= 2)
        first_term.cancel()
        await asyncio.gather(first_term, return_exceptions=True)
        own_redis.start()
        second_term = asyncio.create_task(listener.run())
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        second_term.cancel()
        await asyncio.gather(second_term, return_exceptions=True)
    await client.aclose()
    events = [e["event"] for e in logs]
    assert "redis_subscribed" in events
    assert "redis_recovered" not in events
    assert reconnects == []


MINE = b'{"user_id": 1, "message": "mine", "deployment": "111/%d"}'
THEIRS = b'{"user_id": 1, "message": "theirs", "deployment": "222/%d"}'
THEIRS_ESCAPED = b'{"user_id": 1, "message": "escaped", "deployment":"111\\/%d"}'
WORD = b'{"user_id": 1, "message": "deployment"}'  # the word as a value: no mark
UNMARKED = b'{"user_id": 1, "message": "a raw PUBLISH"}'


async def test_a_notification_marked_for_another_deployment_is_counted_and_dropped(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    """Bots on other databases of the server hear the channel too; the publisher's mark
    (bot id/db) tells them apart. Unmarked payloads (a raw PUBLISH) go through as before."""
    database = redis_client.connection_pool.connection_kwargs.get("db", 0)
    await redis_client.set(BOT_ID, "111")  # the bot claimed its database at start
    received = Received()
    listener = RedisListener(redis_client, channel, received)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        assert listener.mark == f"111/{database}"
        with capture_logs() as logs:
            mine = MINE % database
            for payload in (
                THEIRS % database,
                mine,
                THEIRS_ESCAPED % (database + 1),
                WORD,
                UNMARKED,
            ):
                await redis_client.publish(channel, payload)
            await received.wait_for(UNMARKED)  # one connection: the others came before it
        assert received.payloads == [mine, WORD, UNMARKED]
        assert listener.foreign == 2
        foreign = [e for e in logs if e["event"] == "notification_foreign"]
        assert [e["deployment"] for e in foreign] == [f"222/{database}", f"111/{database + 1}"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_the_listener_is_visible_to_other_deployments_while_it_listens(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    listener = RedisListener(redis_client, channel, Received(), deployment="111/3")
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        assert await other_deployments(redis_client, channel, "222/4") == ("111/3",)
        assert await other_deployments(redis_client, channel, "111/3") == ()
        assert await other_deployments(redis_client, channel + "-other", "222/4") == ()
        assert await redis_client.pubsub_numsub(channel) == [(channel.encode(), 1)]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await eventually(lambda: _gone(redis_client, channel))


async def _gone(client: redis.asyncio.Redis, channel: str) -> bool:
    return await other_deployments(client, channel, None) == ()


async def test_finishing_hands_on_every_message_redis_had_sent(
    redis_client: redis.asyncio.Redis, channel: str
) -> None:
    """A leader stepping down (a lost lock, a SIGTERM) stops its listener. Cancelled, the
    messages waiting in its socket were lost: PUBLISH had counted them as received, and no log
    line or dead letter said so. Finishing hands each of them on, in order, then ends."""
    received = Received()
    gate = asyncio.Event()

    async def slow(envelope: Envelope) -> None:
        await gate.wait()  # the first is being handed on while the rest arrive
        await received(envelope)

    listener = RedisListener(redis_client, channel, slow)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        sent = [f"m{n}".encode() for n in range(20)]
        for payload in sent:
            assert await redis_client.publish(channel, payload) == 1
        finishing = asyncio.create_task(listener.finish(within=5))
        gate.set()
        await asyncio.wait_for(asyncio.gather(finishing, task), 10)
        assert received.payloads == sent
        assert not listener.subscribed.is_set()
        assert await redis_client.publish(channel, b"after") == 0  # nobody listens now
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
