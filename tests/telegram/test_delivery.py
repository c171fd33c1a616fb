"""The Telegram error policy, through a real python-telegram-bot Bot and the Bot API emulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from telegram import Bot
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.notification import Notification, Outcome
from bot.store.registry import ChatRegistry
from bot.telegram.delivery import Delivery, RetryPolicy
from bot.telegram.pacing import Limits, PacedRequests, Pacer
from bot.telegram.text import utf16_len
from bot.testing import FakeTelegram
from tests.helpers import redis_outage, telegram_outage

NOTE = Notification(user_id=42, message="Your order is on its way!")
ATTEMPTS = 4


@pytest.fixture
async def tg_bot(telegram: FakeTelegram, pacer: Pacer) -> AsyncIterator[Bot]:
    # A short read timeout so that a hung request is cut off quickly.
    request = HTTPXRequest(read_timeout=0.5, connection_pool_size=8)
    paced = PacedRequests(pacer)
    async with ExtBot(
        telegram.token, base_url=telegram.base_url, request=request, rate_limiter=paced
    ) as bot:
        yield bot


@pytest.fixture
def registry(fake_redis: redis.asyncio.Redis) -> ChatRegistry:
    return ChatRegistry(fake_redis)


@pytest.fixture
def pacer() -> Pacer:
    return Pacer(Limits(per_second=1000, chat_burst=1000))


@pytest.fixture
def delivery(
    tg_bot: Bot, registry: ChatRegistry, pacer: Pacer, fake_redis: redis.asyncio.Redis
) -> Delivery:
    retry = RetryPolicy(ATTEMPTS, base_delay=0.01, max_delay=0.05)
    return Delivery(
        tg_bot,
        registry,
        pacer,
        retry,
        redis=redis_outage(fake_redis),
        telegram=telegram_outage(tg_bot),
    )


@pytest.fixture
async def linked(registry: ChatRegistry, telegram: FakeTelegram) -> int:
    telegram.add_chat(9001)
    await registry.link(42, 9001)
    return 9001


async def test_a_linked_user_gets_the_message(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 1)
    [sent] = telegram.sent
    assert (sent.chat_id, sent.text) == (linked, NOTE.message)
    assert "allow_paid_broadcast" not in sent.params


async def test_an_unlinked_user_causes_no_telegram_call(
    delivery: Delivery, telegram: FakeTelegram
) -> None:
    assert (await delivery.deliver(NOTE)).outcome == Outcome.UNLINKED
    assert telegram.calls_to("sendMessage") == []


async def test_a_user_who_blocked_the_bot_is_unlinked_without_retry(
    delivery: Delivery, telegram: FakeTelegram, registry: ChatRegistry, linked: int
) -> None:
    telegram.block(linked)
    result = await delivery.deliver(NOTE)
    assert result.outcome == Outcome.BLOCKED
    assert result.reason == "Forbidden: bot was blocked by the user"
    assert len(telegram.calls_to("sendMessage")) == 1
    assert await registry.chat_for(42) is None


async def test_flood_control_waits_retry_after_then_sends_and_pauses_every_chat(
    delivery: Delivery, telegram: FakeTelegram, pacer: Pacer, linked: int
) -> None:
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    started = time.monotonic()
    result = await delivery.deliver(NOTE)
    assert result.outcome == Outcome.SENT
    assert result.attempts == 1  # a flood wait does not use up the retry budget
    assert time.monotonic() - started >= 1.0  # waited as long as Telegram asked
    assert len(telegram.calls_to("sendMessage")) == 2


async def test_a_429_holds_back_sends_to_other_chats_too(
    delivery: Delivery, telegram: FakeTelegram, pacer: Pacer, registry: ChatRegistry
) -> None:
    pacer.pause(0.5)
    telegram.add_chat(7)
    await registry.link(1, 7)
    started = time.monotonic()
    await delivery.deliver(Notification(user_id=1, message="other chat"))
    assert time.monotonic() - started >= 0.45


async def test_chat_not_found_fails_at_once(
    delivery: Delivery, telegram: FakeTelegram, registry: ChatRegistry
) -> None:
    await registry.link(42, 555)  # a chat Telegram does not know
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "Chat not found")
    assert len(telegram.calls_to("sendMessage")) == 1


async def test_a_bad_gateway_is_retried_until_it_passes(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 3)


async def test_a_hung_request_is_cut_by_the_timeout_and_retried(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.hang_next("sendMessage", 2.0)
    started = time.monotonic()
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 2)
    assert time.monotonic() - started < 1.9  # did not wait for the hung answer
    assert [m.text for m in telegram.sent] == [NOTE.message]


async def test_a_dropped_connection_is_retried(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.drop_next("sendMessage")
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 2)


async def test_a_lasting_outage_gives_up_after_the_retry_budget(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=ATTEMPTS)
    result = await delivery.deliver(NOTE)
    assert result.outcome == Outcome.FAILED
    assert result.attempts == ATTEMPTS
    assert result.reason == f"Bad Gateway (after {ATTEMPTS} attempts)"
    assert telegram.sent == []


async def test_a_migrated_group_is_followed_and_the_mapping_updated(
    delivery: Delivery, telegram: FakeTelegram, registry: ChatRegistry, linked: int
) -> None:
    telegram.add_chat(-1001234567890, chat_type="supergroup")
    telegram.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -1001234567890},
    )
    assert (await delivery.deliver(NOTE)).outcome == Outcome.SENT
    assert [m.chat_id for m in telegram.sent] == [-1001234567890]
    assert await registry.chat_for(42) == -1001234567890


async def test_a_chain_of_migrations_is_cut_short(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    """Telegram misbehaving, or a loop of chats: a notification fails after 3 migrations
    instead of following them for ever."""
    telegram.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -1001234567890},
        times=10,
    )
    result = await delivery.deliver(NOTE)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "chat migrated more than 3 times")
    assert len(telegram.calls_to("sendMessage")) == 4


async def test_a_long_message_arrives_as_ordered_parts(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 190 for i in range(10)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 9000

    result = await delivery.deliver(Notification(user_id=42, message=text))

    assert result.outcome == Outcome.SENT
    parts = [m.text for m in telegram.sent]
    assert len(parts) == 3
    assert all(utf16_len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text  # cut only at paragraph breaks, nothing lost
    assert parts[0].startswith("Paragraph 0:")


async def test_paid_broadcast_sets_the_flag(
    tg_bot: Bot,
    registry: ChatRegistry,
    pacer: Pacer,
    telegram: FakeTelegram,
    linked: int,
    fake_redis: redis.asyncio.Redis,
) -> None:
    delivery = Delivery(
        tg_bot,
        registry,
        pacer,
        redis=redis_outage(fake_redis),
        telegram=telegram_outage(tg_bot),
        paid_broadcast=True,
    )
    await delivery.deliver(NOTE)
    [sent] = telegram.sent
    assert sent.params["allow_paid_broadcast"] in ("true", "True", True)
