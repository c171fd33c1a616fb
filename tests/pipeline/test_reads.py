"""The read before a send: each kind of notification reads what it needs, every reply reaches the
decoder of its own command, and it all takes one Redis round trip."""

from __future__ import annotations

import json

import pytest
import redis.asyncio

from bot.notification.parsing import parse_fields
from bot.pipeline.envelope import PUBSUB, Envelope, FanOutPart
from bot.pipeline.reads import BeforeSend, Reader
from bot.pipeline.settle import DELIVERED_PREFIX
from bot.preferences import Preferences
from bot.store import fanouts
from bot.store.actions import ACTION_PREFIX, ActionStore
from bot.store.chats import LinkedChat
from bot.store.digests import digest_key, dropped_key
from bot.store.memory import Memory, queue_remember
from bot.store.preferences import PreferenceStore
from bot.store.registry import ChatRegistry
from tests.helpers import CountedTrips, redis_outage

USER = 7
CHATS = (LinkedChat(70), LinkedChat(-700, "group", 3))


@pytest.fixture
async def trips(fake_redis: redis.asyncio.Redis) -> CountedTrips:
    registry = ChatRegistry(fake_redis)
    for chat in CHATS:
        await registry.link(USER, chat)
    await PreferenceStore(fake_redis).update(
        USER, lambda p: p.model_copy(update={"quiet_mode": "hold"})
    )
    return CountedTrips(fake_redis)


async def read(
    client: redis.asyncio.Redis, trips: CountedTrips, envelope: Envelope, *, actions: bool = False
) -> BeforeSend:
    store = ActionStore(client, ttl=60, stream="actions", maxlen=100) if actions else None
    before = await Reader(trips, redis_outage(client), store).before_send(envelope)
    assert trips.count == 1  # whatever it reads: one round trip
    assert before.chats == CHATS
    assert before.preferences == Preferences(quiet_mode="hold")
    return before


def envelope(part: FanOutPart | None = None, **fields: object) -> Envelope:
    parsed = parse_fields({"user_id": USER, **fields})
    return Envelope(json.dumps(fields), PUBSUB, parsed=parsed, part=part)


async def test_a_plain_send_reads_the_chats_and_the_preferences(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    before = await read(fake_redis, trips, envelope(message="hi"))
    assert before.skip() is None


async def test_a_send_with_an_id_delivered_before_is_a_duplicate(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    await fake_redis.set(DELIVERED_PREFIX + "n1", "1")
    before = await read(fake_redis, trips, envelope(message="hi", id="n1"))
    assert before.duplicate
    assert before.skip() is not None


async def test_an_edit_reads_what_was_sent_for_its_id(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    sent = (Memory(USER, 70, (5, 6), ("text", "text"), 1_700_000_000.0),)
    async with fake_redis.pipeline() as pipe:
        queue_remember(pipe, "n1", sent, 60)
        await pipe.execute()
    before = await read(fake_redis, trips, envelope(op="edit", message="new", id="n1"))
    assert before.memory == sent


async def test_a_digests_flush_reads_its_lines_and_how_many_were_not_kept(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    await fake_redis.rpush(digest_key(USER, "news"), "first", "second")
    await fake_redis.set(dropped_key(USER, "news"), 3)
    before = await read(fake_redis, trips, envelope(op="digest", category="news"))
    assert (before.digest, before.digest_dropped) == (["first", "second"], 3)


async def test_a_recipient_of_a_cancelled_fan_out_counted_before_a_restart_is_skipped(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    await fake_redis.hset(fanouts.FANOUT.format(id="job"), "state", fanouts.CANCELLING)
    await fake_redis.setbit(fanouts.SETTLED.format(id="job"), 4, 1)
    part = FanOutPart("job", 4)
    before = await read(fake_redis, trips, envelope(part, message="hi"))
    assert (before.counted, before.cancelled) == (True, True)


async def test_what_the_action_buttons_report_is_stored_in_the_same_trip(
    fake_redis: redis.asyncio.Redis, trips: CountedTrips
) -> None:
    buttons = [[{"text": "Got it", "action": "got-it"}]]
    taps = envelope(message="hi", id="n1", buttons=buttons)
    before = await read(fake_redis, trips, taps, actions=True)
    assert not before.duplicate
    assert taps.action_key is not None
    record = json.loads(await fake_redis.get(ACTION_PREFIX + taps.action_key) or "{}")
    assert (record["id"], record["user_id"]) == ("n1", USER)
