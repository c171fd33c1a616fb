"""The Telegram error policy, through a real python-telegram-bot Bot and the Bot API emulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from telegram import Bot

from bot.delivery import MAX_ATTEMPTS, Delivery
from bot.events import Notification
from bot.registry import ChatRegistry
from bot.stats import Outcome, Stats
from bot.testing import FakeTelegram

NOTE = Notification(user_id=42, message="Your order is on its way!")


@pytest.fixture
async def tg_bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        yield bot


@pytest.fixture
def registry(fake_redis: redis.asyncio.Redis) -> ChatRegistry:
    return ChatRegistry(fake_redis)


@pytest.fixture
def stats() -> Stats:
    return Stats()


@pytest.fixture
async def delivery(tg_bot: Bot, registry: ChatRegistry, stats: Stats) -> Delivery:
    return Delivery(tg_bot, registry, stats, retry_base=0.01)


@pytest.fixture
async def linked(registry: ChatRegistry, telegram: FakeTelegram) -> int:
    telegram.add_chat(9001)
    await registry.link(42, 9001)
    return 9001


async def test_a_linked_user_gets_the_message_and_it_is_counted(
    delivery: Delivery, telegram: FakeTelegram, stats: Stats, linked: int
) -> None:
    assert await delivery.deliver(NOTE) == Outcome.SENT
    [sent] = telegram.sent
    assert (sent.chat_id, sent.text) == (linked, NOTE.message)
    assert stats.outcomes[Outcome.SENT] == 1


async def test_an_unlinked_user_causes_no_telegram_call(
    delivery: Delivery, telegram: FakeTelegram, stats: Stats
) -> None:
    assert await delivery.deliver(NOTE) == Outcome.UNLINKED
    assert telegram.calls_to("sendMessage") == []
    assert stats.outcomes[Outcome.UNLINKED] == 1


async def test_a_user_who_blocked_the_bot_is_unlinked_without_retry(
    delivery: Delivery, telegram: FakeTelegram, registry: ChatRegistry, linked: int
) -> None:
    telegram.block(linked)
    assert await delivery.deliver(NOTE) == Outcome.BLOCKED
    assert len(telegram.calls_to("sendMessage")) == 1
    assert await registry.chat_for(42) is None


async def test_flood_control_waits_retry_after_then_sends(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    started = time.monotonic()
    assert await delivery.deliver(NOTE) == Outcome.SENT
    assert time.monotonic() - started >= 1.0  # waited as long as Telegram asked
    assert len(telegram.calls_to("sendMessage")) == 2


async def test_chat_not_found_fails_at_once(
    delivery: Delivery, telegram: FakeTelegram, registry: ChatRegistry, stats: Stats
) -> None:
    await registry.link(42, 555)  # a chat Telegram does not know
    assert await delivery.deliver(NOTE) == Outcome.FAILED
    assert len(telegram.calls_to("sendMessage")) == 1
    assert stats.outcomes[Outcome.FAILED] == 1


async def test_a_bad_gateway_is_retried_until_it_passes(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    assert await delivery.deliver(NOTE) == Outcome.SENT
    assert len(telegram.calls_to("sendMessage")) == 3


async def test_a_lasting_outage_gives_up_after_the_retry_budget(
    delivery: Delivery, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=MAX_ATTEMPTS)
    assert await delivery.deliver(NOTE) == Outcome.FAILED
    assert len(telegram.calls_to("sendMessage")) == MAX_ATTEMPTS
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
    assert await delivery.deliver(NOTE) == Outcome.SENT
    assert [m.chat_id for m in telegram.sent] == [-1001234567890]
    assert await registry.chat_for(42) == -1001234567890
