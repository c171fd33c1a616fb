"""Quiet hours end to end, by a controllable clock: sent silently or held; /quiet and /timezone."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.preferences import Preferences
from bot.store.preferences import PREFERENCES, PreferenceStore
from bot.store.registry import ChatRegistry
from bot.store.schedule import SCHEDULED
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.chat.chat_user import (
    CHAT,
    USER,
    categorized_settings,  # noqa: F401 - the fixture `settings`
    linked,
    say,
)
from tests.helpers import publish, receipt_for, wait_sent


async def _tonight_at(redis_client: redis.asyncio.Redis, hour: int, minute: int = 0) -> datetime:
    """`hour:minute` UTC on the day after Redis's clock says today: held notifications are
    released by Redis's TIME, so a night for the planner must still lie ahead by that clock."""
    seconds, _micro = await redis_client.time()
    tomorrow = datetime.fromtimestamp(seconds, UTC) + timedelta(days=1)
    return tomorrow.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _quiet_around(now: datetime, minutes_left: int) -> str:
    """Quiet hours that began an hour before `now` and end `minutes_left` after it."""
    start, end = now - timedelta(hours=1), now + timedelta(minutes=minutes_left)
    return f"{start:%H:%M}-{end:%H:%M}"


async def test_quiet_hours_send_silently_and_high_priority_and_security_ring(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    fake_now = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    running_bot.bot.dispatcher.planner.clock = fake_now.timestamp
    assert "22:00-07:00" in (await say(telegram, "/quiet 22:00-07:00")).text
    publish(settings, user_id=USER, message="Order #18 packed", category="orders")
    publish(settings, user_id=USER, message="Your code: 1234", priority="high")
    publish(settings, user_id=USER, message="New login", category="security")
    sent = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: "/" not in m.text, count=3)
    silent = {m.text: m.params.get("disable_notification", False) for m in sent}
    assert silent == {"Order #18 packed": True, "Your code: 1234": False, "New login": False}

    running_bot.bot.dispatcher.planner.clock = (fake_now + timedelta(hours=8)).timestamp
    publish(settings, user_id=USER, message="Order #18 shipped", category="orders")
    [shipped] = await wait_sent(
        telegram, chat_id=CHAT, predicate=lambda m: m.text == "Order #18 shipped"
    )
    assert "disable_notification" not in shipped.params  # 07:30: quiet hours are over


async def test_held_notifications_wait_in_redis_and_go_out_in_order_when_quiet_hours_end(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """With "hold", normal and bulk ones wait until the end of quiet hours (kept in Redis, in
    the order they came) while high ones go out at once."""
    await linked(telegram, redis_client)
    store = PreferenceStore(redis_client)
    await store.update(
        USER, lambda p: p.model_copy(update={"quiet": "22:00-07:00", "quiet_mode": "hold"})
    )
    night = await _tonight_at(redis_client, 23, 30)
    running_bot.bot.dispatcher.planner.clock = night.timestamp
    for n in range(5):
        publish(settings, user_id=USER, message=f"update {n}", id=f"u{n}", category="orders")
    publish(settings, user_id=USER, message="Your code: 1234", priority="high")
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Your code: 1234")
    for _ in range(5):
        assert (await receipt_for(receipts, "held"))["id"].startswith("u")
    held: Any = await redis_client.zrange(SCHEDULED, 0, -1, withscores=True)
    morning = (night + timedelta(days=1)).replace(hour=7, minute=0).timestamp() * 1000
    assert [score for _member, score in held] == [morning] * 5
    assert not [m for m in telegram.sent if m.text.startswith("update")]

    # Morning comes (for Redis, which decides what is due): they go out, in order, once.
    await redis_client.zadd(SCHEDULED, {member: 0 for member, _score in held})
    running_bot.bot.releaser.wake.set()  # type: ignore[union-attr]
    updates = await wait_sent(
        telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("update"), count=5
    )
    assert [m.text for m in updates] == [f"update {n}" for n in range(5)]
    assert running_bot.bot.stats.outcomes[Outcome.HELD] == 5


async def test_held_fan_out_recipients_each_get_it_when_their_quiet_hours_end(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """A fan-out's recipients held for quiet hours are released as notifications of their own:
    without the fan-out's id, which would make all but the first duplicates."""
    store, registry = PreferenceStore(redis_client), ChatRegistry(redis_client)
    users = [101, 102, 103]
    for user in users:
        telegram.add_chat(5000 + user)
        await registry.link(user, 5000 + user)
        await store.update(
            user, lambda p: p.model_copy(update={"quiet": "22:00-07:00", "quiet_mode": "hold"})
        )
    night = await _tonight_at(redis_client, 23)
    running_bot.bot.dispatcher.planner.clock = night.timestamp
    publish(settings, user_ids=users, message="Weekly news", id="news-50", category="orders")
    summary = await receipt_for(receipts, "fanout_done")
    assert (summary["sent"], summary["skipped"]) == (3, 0)  # held counts as sent
    held: Any = await redis_client.zrange(SCHEDULED, 0, -1)
    assert len(held) == 3
    await redis_client.zadd(SCHEDULED, dict.fromkeys(held, 0))
    running_bot.bot.releaser.wake.set()  # type: ignore[union-attr]
    sent = await wait_sent(telegram, predicate=lambda m: m.text == "Weekly news", count=3)
    assert sorted(m.chat_id for m in sent) == [5101, 5102, 5103]


async def test_one_released_at_its_deliver_at_in_quiet_hours_arrives_without_a_sound(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    await PreferenceStore(redis_client).update(
        USER, lambda p: p.model_copy(update={"quiet": "22:00-07:00"})
    )
    running_bot.bot.dispatcher.planner.clock = datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp
    await redis_client.xadd(
        settings.notification_stream,
        {
            "payload": json.dumps(
                {"user_id": USER, "message": "At 3", "deliver_at": time.time() + 1}
            )
        },
    )
    [late] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "At 3")
    assert late.params.get("disable_notification") is True


async def test_bad_quiet_hours_and_time_zones_get_a_helpful_reply_and_change_nothing(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await linked(telegram, redis_client)
    reply = await say(telegram, "/quiet 25:00-07:00")
    assert "25:00-07:00" in reply.text
    assert "/quiet 22:00-07:00" in reply.text
    reply = await say(telegram, "/timezone Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in reply.text
    assert "Europe/Berlin" in reply.text
    assert await redis_client.hget(PREFERENCES, str(USER)) is None
    assert "Europe/Berlin" in (await say(telegram, "/timezone Europe/Berlin")).text
    assert "off" in (await say(telegram, "/quiet off")).text
    stored = await redis_client.hget(PREFERENCES, str(USER))
    assert stored is not None
    assert Preferences.model_validate_json(stored).timezone == "Europe/Berlin"


async def test_quiet_hours_set_in_wait_mode_say_that_notifications_wait(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await linked(telegram, redis_client)
    await PreferenceStore(redis_client).update(
        USER, lambda p: p.model_copy(update={"quiet_mode": "hold"})
    )
    reply = await say(telegram, "/quiet 23:00-06:00")
    assert reply.text.startswith("Quiet hours are now 23:00-06:00 (UTC): notifications wait")
