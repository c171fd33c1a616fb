"""Holding and replaying deliveries: /pause, /resume, /deadletters and /retry."""

from __future__ import annotations

import json
import time

import redis.asyncio

from bot.config.settings import Settings
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.chat.admin_chat import (
    ADMIN,
    admin_bot,  # noqa: F401 - the fixture `bot`
    ask,
    settings_with_admin,  # noqa: F401 - the fixture `admin_settings`
)
from tests.helpers import link_chat, plain_publish, wait_sent
from tests.waiting import eventually


async def test_dead_letters_are_listed_and_retried(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await ChatRegistry(redis_client).link(42, 777)  # a chat Telegram does not know yet
    plain_publish(
        admin_settings.redis_url,
        admin_settings.notification_channel,
        {"user_id": 42, "message": "later"},
    )
    await eventually(lambda: bot.bot.dead_letters.latest(1))  # counted, then written

    listing = await ask(telegram, ADMIN, "/deadletters")
    assert listing.startswith("1 dead letters, newest first:")
    assert "Chat not found" in listing
    assert '"message": "later"' in listing

    telegram.add_chat(777)
    assert await ask(telegram, ADMIN, "/retry all") == "Requeued 1 dead letter."
    await wait_sent(telegram, chat_id=777, predicate=lambda m: m.text == "later")
    assert await ask(telegram, ADMIN, "/deadletters") == "No dead letters."


async def test_pause_holds_everything_and_resume_loses_nothing(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    assert (await ask(telegram, ADMIN, "/pause")).startswith("Paused.")
    for i in range(3):
        plain_publish(
            admin_settings.redis_url,
            admin_settings.notification_channel,
            {"user_id": 42, "message": f"p{i}"},
        )
        await redis_client.xadd(
            admin_settings.notification_stream,
            {"payload": json.dumps({"user_id": 42, "message": f"s{i}"})},
        )
    await eventually(lambda: bot.bot.dispatcher.pending == 6)
    assert "PAUSED" in await ask(telegram, ADMIN, "/stats")
    assert not [m for m in telegram.sent if m.text[:1] in "ps" and m.text[1:].isdigit()]

    assert (
        await ask(telegram, ADMIN, "/resume") == "Resumed; 6 queued notifications are on their way."
    )
    sent = await wait_sent(
        telegram, chat_id=9001, predicate=lambda m: m.text[1:].isdigit(), count=6
    )
    assert sorted(m.text for m in sent) == ["p0", "p1", "p2", "s0", "s1", "s2"]


async def test_the_longest_dead_letter_listing_still_fits_one_message(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """/deadletters 50, the documented maximum, with 60 long letters: it answers (it used to
    fail with "message is too long"), showing what fits and saying how many it left out."""
    store = bot.bot.dead_letters
    for n in range(60):
        payload = json.dumps({"user_id": n, "text": "x" * 400})
        await store.add(payload, "not valid: " + "why " * 100, 1, "pubsub", time.time())
    listing = await ask(telegram, ADMIN, "/deadletters 50")
    assert listing.startswith("60 dead letters, newest first:")
    assert len(listing.encode("utf-16-le")) // 2 <= 4096
    assert "more not shown: /deadletters" in listing


async def test_dead_letters_keep_a_bounded_payload_and_a_replay_skips_cut_ones(
    bot: RunningBot, telegram: FakeTelegram, admin_settings: Settings
) -> None:
    """An invalid 1 MB payload is kept as its first DEADLETTER_MAX_PAYLOAD_BYTES (64 KB),
    marked; /retry all does not put it back (it could only fail again)."""
    huge = '{"user_id": 42, "message": "' + "y" * 1_000_000  # not even valid JSON
    plain_publish(admin_settings.redis_url, admin_settings.notification_channel, huge)
    await eventually(lambda: bot.bot.dead_letters.latest(1))  # counted, then written
    [letter] = await bot.bot.dead_letters.latest(1)
    assert letter.truncated == len(huge)
    assert len(letter.payload) == 64 * 1024
    assert "(payload cut)" in await ask(telegram, ADMIN, "/deadletters")
    reply = await ask(telegram, ADMIN, "/retry all")
    assert reply == "Requeued 0 dead letters. Kept 1 whose payload was cut to the size limit."
