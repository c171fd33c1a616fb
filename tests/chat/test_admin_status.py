"""The admin's /stats and /health: counts since start and all time, each dependency."""

from __future__ import annotations

import re

import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher
from bot.store.counters import all_time
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.chat.admin_chat import (
    ADMIN,
    admin_bot,  # noqa: F401 - the fixture `bot`
    ask,
    settings_with_admin,  # noqa: F401 - the fixture `admin_settings`
)
from tests.helpers import link_chat, plain_publish, wait_sent
from tests.waiting import eventually


async def test_stats_show_counts_since_start_and_all_time(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    plain_publish(
        admin_settings.redis_url,
        admin_settings.notification_channel,
        {"user_id": 42, "message": "a"},
    )
    plain_publish(admin_settings.redis_url, admin_settings.notification_channel, "bad")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "a")
    # Counted when settled (after Telegram answered), then written to Redis for all-time.
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.SENT] == 1)
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.INVALID] == 1)
    await eventually(lambda: _all_time_reached(redis_client, sent=1, invalid=1))

    reply = await ask(telegram, ADMIN, "/stats")

    assert "1 linked users" in reply
    assert re.search(r"delivered\s+1\s+1", reply)
    assert re.search(r"invalid\s+1\s+1", reply)
    assert re.search(r"dead-lettered\s+1\s+1", reply)
    assert "redis: ok" in reply
    assert "leader, pub/sub subscribed, stream consuming" in reply
    assert "stream: 0 entries, 0 pending" in reply
    assert telegram.token not in reply


async def test_all_time_counters_survive_a_restart(
    admin_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    telegram.add_chat(ADMIN)
    first = await start_bot(admin_settings)
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    for text in ("one", "two"):
        plain_publish(
            admin_settings.redis_url,
            admin_settings.notification_channel,
            {"user_id": 42, "message": text},
        )
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "two")
    await first.shutdown()

    second = await start_bot(admin_settings)
    try:
        reply = await ask(telegram, ADMIN, "/stats")
        assert re.search(r"delivered\s+0\s+2", reply), reply
    finally:
        await second.shutdown()


async def test_health_reports_each_dependency(bot: RunningBot, telegram: FakeTelegram) -> None:
    lines = (await ask(telegram, ADMIN, "/health")).splitlines()
    assert lines[0].startswith("redis: ok, ")
    assert lines[1].startswith("telegram: ok, ")


async def _all_time_reached(client: redis.asyncio.Redis, **counts: int) -> bool:
    stored = await all_time(client)
    return all(stored[name] >= count for name, count in counts.items())


async def test_stats_count_replies_reactions_reminders_and_acknowledgements(
    admin_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    telegram.add_chat(ADMIN)
    running = await start_bot(admin_settings.model_copy(update={"remind_min_seconds": 1}))
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        web = AsyncPublisher(
            redis_client,
            admin_settings.notification_channel,
            admin_settings.notification_stream,
            feedback_stream=admin_settings.feedback_stream,
            remind_min_seconds=1,
        )
        # Answered at once: one reply, one acknowledgement. Left alone: one reminder, then
        # unacknowledged. A reaction to the first.
        await web.publish(42, "Answer me", id="q-1", reply=True, remind=(60, 1))
        await web.publish(42, "Ignore me", id="q-2", remind=(1, 1))
        [asked] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "Answer me")
        await eventually(lambda: redis_client.exists("notify:remind:q-1"))
        telegram.user_says(9001, "here", reply_to=asked.message_id)
        telegram.react(9001, 9001, asked.message_id, emoji=["👍"])
        await eventually(
            lambda: bot_counts(running, replies=1, reactions=1, reminders=1, unacknowledged=1)
        )

        reply = await ask(telegram, ADMIN, "/stats")
    finally:
        await running.shutdown()
    for name in ("replies", "reactions", "reminders", "acknowledged", "unacknowledged"):
        assert re.search(rf"\n{name}\s+1\s+1\n", reply), name
    # A reminder is no notification received: two were, and both were delivered.
    assert re.search(r"received\s+2\s+2\n", reply)
    assert re.search(r"delivered\s+2\s+2\n", reply)


def bot_counts(running: RunningBot, **counts: int) -> bool:
    return all(running.bot.stats.feedback[name] == n for name, n in counts.items())
