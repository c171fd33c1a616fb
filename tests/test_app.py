"""End to end: the real bot against real Redis and the Bot API emulator, in one event loop."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.linking import BAD_LINK, HOW_TO_LINK, NOT_LINKED, UNLINKED
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher
from bot.store.link_tokens import link_token_key
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, plain_publish, token_of, wait_sent
from tests.waiting import eventually

ORDER = "Your order is on its way!"


async def test_plain_publish_reaches_the_linked_chat(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """The blog's story: link from a deep link, publish with bare redis-py, the chat gets it."""
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)

    receivers = plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": ORDER}
    )

    assert receivers == 1
    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == ORDER)
    assert sent.chat_id == 9001
    assert "parse_mode" not in sent.params


async def test_markup_in_messages_arrives_literally(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """<b> and * are user content, not formatting: no parse mode, so they cannot break a send."""
    await link_chat(telegram, redis_client, user_id=7, chat_id=7007)
    text = "<b>50% off</b> *today* _only_ [link](x)"
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 7, "message": text}
    )
    [sent] = await wait_sent(telegram, chat_id=7007, predicate=lambda m: m.text == text)
    assert sent.text == text


@pytest.mark.parametrize(
    "bad_payload",
    [
        b"not json at all",
        b"\xff\xfe not utf-8",
        "[1, 2, 3]",
        '"just a string"',
        '{"message": "no user"}',
        '{"user_id": "42", "message": "user id as a string"}',
        '{"user_id": 42}',
        '{"user_id": 42, "message": ""}',
        '{"user_id": 42, "message": 5}',
    ],
)
async def test_bad_input_is_counted_and_the_next_notification_still_arrives(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    bad_payload: str | bytes,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)

    plain_publish(settings.redis_url, settings.notification_channel, bad_payload)
    plain_publish(
        settings.redis_url,
        settings.notification_channel,
        {"user_id": 42, "message": "after the bad one"},
    )

    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "after the bad one")
    stats = running_bot.bot.stats
    # The emulator records the send before the bot reads the answer: wait for the count.
    await eventually(lambda: stats.outcomes[Outcome.SENT] == 1)
    assert stats.outcomes[Outcome.INVALID] == 1
    assert [m.text for m in telegram.sent if m.chat_id == 9001][-1] == "after the bad one"


async def test_extra_fields_are_ignored(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """Forward compatibility: a newer publisher may add fields this bot does not know."""
    await link_chat(telegram, redis_client, user_id=5, chat_id=5005)
    plain_publish(
        settings.redis_url,
        settings.notification_channel,
        {"user_id": 5, "message": "hello", "priority": "high", "id": "abc"},
    )
    await wait_sent(telegram, chat_id=5005, predicate=lambda m: m.text == "hello")


async def test_a_notification_for_an_unlinked_user_is_not_sent_but_counted(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=1, chat_id=1001)
    plain_publish(
        settings.redis_url,
        settings.notification_channel,
        {"user_id": 999, "message": "nobody is linked"},
    )
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 1, "message": "marker"}
    )

    await wait_sent(telegram, chat_id=1001, predicate=lambda m: m.text == "marker")
    assert not [m for m in telegram.sent if m.text == "nobody is linked"]
    assert running_bot.bot.stats.outcomes[Outcome.UNLINKED] == 1


async def test_stop_unlinks_the_chat(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)

    telegram.user_says(9001, "/stop")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == UNLINKED)
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "after stop"}
    )
    telegram.user_says(9001, "/stop")

    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == NOT_LINKED)
    await eventually(lambda: running_bot.bot.stats.outcomes[Outcome.UNLINKED] == 1)
    assert not [m for m in telegram.sent if m.text == "after stop"]


async def test_a_used_token_is_refused_and_changes_nothing(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
) -> None:
    link = await AsyncPublisher(redis_client).create_link(42)
    telegram.user_says(9001, f"/start {token_of(link)}")
    await wait_sent(telegram, chat_id=9001)

    telegram.user_says(6666, f"/start {token_of(link)}")

    [reply] = await wait_sent(telegram, chat_id=6666)
    assert reply.text == BAD_LINK
    assert [c.chat_id for c in await running_bot.bot.registry.chats_for(42)] == [9001]
    assert await running_bot.bot.registry.user_for(6666) is None


async def test_an_expired_token_is_refused(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
) -> None:
    link = await AsyncPublisher(redis_client).create_link(42, ttl=60)
    key = link_token_key(token_of(link))
    await redis_client.pexpire(key, 1)  # let Redis expire it, as it would after the TTL
    await eventually(lambda: _gone(redis_client, key))

    telegram.user_says(9001, f"/start {token_of(link)}")

    [reply] = await wait_sent(telegram, chat_id=9001)
    assert reply.text == BAD_LINK
    assert await running_bot.bot.registry.chats_for(42) == ()


@pytest.mark.parametrize("forged", ["A" * 43, "../../etc", "x" * 65])
async def test_a_forged_token_is_refused(
    running_bot: RunningBot, telegram: FakeTelegram, forged: str
) -> None:
    telegram.user_says(9001, f"/start {forged}")
    [reply] = await wait_sent(telegram, chat_id=9001)
    assert reply.text == BAD_LINK
    assert await running_bot.bot.registry.user_for(9001) is None


@pytest.mark.parametrize(("text", "expected"), [("/start", HOW_TO_LINK), ("/help", HELP)])
async def test_start_without_a_token_and_help_explain_themselves(
    running_bot: RunningBot, telegram: FakeTelegram, text: str, expected: str
) -> None:
    telegram.user_says(3, text)
    [reply] = await wait_sent(telegram, chat_id=3)
    assert reply.text == expected


async def _gone(client: redis.asyncio.Redis, key: str) -> bool:
    return not await client.exists(key)


async def test_stopping_lets_the_send_in_flight_finish(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    telegram.latency = 0.5  # Telegram is slow to answer this send
    sends_before = len(telegram.calls_to("sendMessage"))
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "last one"}
    )
    await asyncio.to_thread(telegram.wait_for_call, "sendMessage", count=sends_before + 1)

    await running_bot.shutdown()

    assert [m.text for m in telegram.sent][-1] == "last one"
    assert running_bot.bot.stats.outcomes[Outcome.SENT] == 1


async def test_telegram_unreachable_at_start_up_is_retried_not_fatal(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    telegram.fail_next("getMe", 502, "Bad Gateway", times=2)
    with capture_logs() as logs:
        running = await start_bot(settings, within=20)
    try:
        attempts = [e for e in logs if e["event"] == "telegram_unreachable"]
        assert [e["attempt"] for e in attempts] == [1, 2]
        assert any(e["event"] == "telegram_recovered" for e in logs)
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    finally:
        await running.shutdown()


async def test_a_10000_character_notification_arrives_as_ordered_parts(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    lines = [f"Line {i:04d} of the monthly statement." for i in range(300)]
    text = "\n".join(lines)[:10_000]
    assert len(text) == 10_000
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": text}
    )

    parts = await wait_sent(
        telegram, chat_id=9001, predicate=lambda m: m.text.startswith("Line"), count=3
    )

    assert all(len(p.text) <= 4096 for p in parts)
    assert "\n".join(p.text for p in parts) == text  # cut at line breaks, in order, nothing lost


async def test_the_bots_own_http_stack_cuts_hung_requests_and_survives_dropped_ones(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """The sending path (aiohttp transport under python-telegram-bot) still maps a read
    timeout and a dropped connection to errors the delivery policy retries."""
    quick = settings.model_copy(update={"telegram_timeout": 0.5, "delivery_retry_base": 0.01})
    running = await start_bot(quick)
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        telegram.hang_next("sendMessage", 2.0)
        telegram.drop_next("sendMessage")
        plain_publish(quick.redis_url, quick.notification_channel, {"user_id": 42, "message": "x"})
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "x")
        await eventually(lambda: running.bot.stats.outcomes[Outcome.SENT] == 1)
    finally:
        await running.shutdown()


async def test_per_user_state_exists_only_for_linked_users_and_goes_with_the_link(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """Notifications to 50 ids nobody linked leave nothing behind per id; a linked user's
    last delivery is kept until the link goes."""
    for user in range(1000, 1050):
        plain_publish(
            settings.redis_url, settings.notification_channel, {"user_id": user, "message": "?"}
        )
    stats = running_bot.bot.stats
    await eventually(lambda: stats.outcomes[Outcome.UNLINKED] == 50)
    assert await redis_client.hlen("notify:last_delivery") == 0

    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "hi"}
    )
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "hi")
    await eventually(lambda: redis_client.hexists("notify:last_delivery", "42"))
    telegram.user_says(9001, "/stop")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == UNLINKED)
    assert await redis_client.hlen("notify:last_delivery") == 0
