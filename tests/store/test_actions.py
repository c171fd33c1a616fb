"""Action keys and taps in Redis: what a tap may record, and that it records it once."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio

from bot.notification import Notification
from bot.store.actions import (
    ACTION_PREFIX,
    ActionStore,
    Tap,
    TapEvent,
    callback_data,
    new_key,
    parse_callback,
)
from bot.store.chat_links import CHAT_TO_USER

STREAM = "test:actions"


def store(client: redis.asyncio.Redis) -> ActionStore:
    return ActionStore(client, ttl=3600, stream=STREAM, maxlen=1000)


async def issue(client: redis.asyncio.Redis, user_id: int = 42) -> str:
    key = new_key()
    notification = Notification.model_validate(
        {
            "user_id": user_id,
            "id": "order-17",
            "message": "Arrived?",
            "buttons": [[{"text": "Yes", "action": "yes"}, {"text": "No", "action": "no"}]],
        }
    )
    async with client.pipeline(transaction=False) as pipe:
        store(client).queue_issue(pipe, key, notification)
        store(client).queue_shows(pipe, [(9001, 5)], key)  # as sent: message 5 in chat 9001
        await pipe.execute()
    return key


def test_callback_data_is_short_and_parses_back() -> None:
    key = new_key()
    data = callback_data(key, 99)
    assert len(data.encode()) <= 64
    assert parse_callback(data) == (key, 99)
    for foreign in (None, "", "settings:1", "a:", "a:key", "a:key:x", "a::1", "a:k:12345", "a:k:²"):
        assert parse_callback(foreign) is None


async def test_a_tap_repeated_by_telegram_is_recorded_once(fake_redis: redis.asyncio.Redis) -> None:
    key = await issue(fake_redis)
    await fake_redis.hset(CHAT_TO_USER, "9001", "42")
    tap = TapEvent("query-1", chat_id=9001, message_id=5)

    assert (await store(fake_redis).record_tap(key, 1, tap)).outcome is Tap.RECORDED
    assert (await store(fake_redis).record_tap(key, 1, tap)).outcome is Tap.REPEATED

    entries: Any = await fake_redis.xrange(STREAM)
    [(_, fields)] = entries
    event = json.loads(fields[b"payload"])
    assert {k: v for k, v in event.items() if k != "at"} == {
        "type": "action",
        "action": "no",
        "user_id": 42,
        "id": "order-17",
        "chat_id": 9001,
        "chat": "private",
        "message_id": 5,
    }


async def test_a_key_is_stored_for_its_ttl(fake_redis: redis.asyncio.Redis) -> None:
    key = await issue(fake_redis)
    assert 3590 <= await fake_redis.ttl(ACTION_PREFIX + key) <= 3600


async def test_taps_that_prove_nothing_record_nothing(fake_redis: redis.asyncio.Redis) -> None:
    key = await issue(fake_redis, user_id=42)
    await fake_redis.hset(CHAT_TO_USER, mapping={"9001": "42", "9002": "43"})
    actions = store(fake_redis)

    assert (
        await actions.record_tap("neverissued", 0, TapEvent("q1", 9001, 5))
    ).outcome is Tap.UNKNOWN
    assert (
        await actions.record_tap(key, 2, TapEvent("q2", 9001, 5))
    ).outcome is Tap.UNKNOWN  # no 3rd
    assert (
        await actions.record_tap(key, 0, TapEvent("q3", 9002, 6))
    ).outcome is Tap.UNKNOWN  # user 43
    assert (
        await actions.record_tap(key, 0, TapEvent("q4", 9003, 7))
    ).outcome is Tap.UNKNOWN  # unlinked
    assert await fake_redis.xlen(STREAM) == 0


async def test_a_tap_counts_only_from_a_message_that_shows_its_key(
    fake_redis: redis.asyncio.Redis,
) -> None:
    key = await issue(fake_redis)
    await fake_redis.hset(CHAT_TO_USER, "9001", "42")
    actions = store(fake_redis)
    assert (
        await actions.record_tap(key, 0, TapEvent("q1", 9001, 6))
    ).outcome is Tap.UNKNOWN  # another
    async with fake_redis.pipeline(transaction=False) as pipe:
        actions.queue_shows(pipe, [(9001, 5)], None)  # edited without buttons, or deleted
        await pipe.execute()
    assert (await actions.record_tap(key, 0, TapEvent("q2", 9001, 5))).outcome is Tap.UNKNOWN
    assert await fake_redis.xlen(STREAM) == 0


async def test_a_tap_before_the_send_is_recorded_counts_from_any_of_its_messages(
    fake_redis: redis.asyncio.Redis,
) -> None:
    """Until the send settles (the last chat may wait minutes for a group's pace), the first
    chats already show the buttons: their taps count. Once recorded, only those messages."""
    key = new_key()
    notification = Notification.model_validate(
        {"user_id": 42, "message": "Pay?", "buttons": [[{"text": "Yes", "action": "yes"}]]}
    )
    actions = store(fake_redis)
    async with fake_redis.pipeline(transaction=False) as pipe:
        actions.queue_issue(pipe, key, notification)
        await pipe.execute()
    await fake_redis.hset(CHAT_TO_USER, "9001", "42")
    assert (await actions.record_tap(key, 0, TapEvent("q1", 9001, 7))).outcome is Tap.RECORDED
    async with fake_redis.pipeline(transaction=False) as pipe:
        actions.queue_shows(pipe, [(9001, 7)], key)
        await pipe.execute()
    assert (await actions.record_tap(key, 0, TapEvent("q2", 9001, 8))).outcome is Tap.UNKNOWN
    assert (await actions.record_tap(key, 0, TapEvent("q3", 9001, 7))).outcome is Tap.RECORDED
