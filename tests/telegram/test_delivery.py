"""Delivery to a chat through the delivery path's own sender and the Bot API emulator: what the
error policy's verdicts do (waits, retries, a migration followed, a link change for the settle)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio

from bot.formatting.entities import utf16_len
from bot.notification import Outcome
from bot.notification.parsing import Parsed, parse_fields
from bot.pipeline.results import LinkChange, Result, Target
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry
from bot.telegram.delivery import Delivery
from bot.telegram.pacing import Limits, Pacer
from bot.telegram.policy import RetryPolicy
from bot.telegram.sender import Sender
from bot.testing import FakeTelegram
from tests.helpers import telegram_outage
from tests.telegram.conftest import Answers

NOTE = parse_fields({"user_id": 42, "message": "Your order is on its way!"})
ATTEMPTS = 4


Deliver = Callable[[Parsed], Awaitable[Result]]


@pytest.fixture
async def sender(telegram: FakeTelegram, pacer: Pacer, answers: Answers) -> AsyncIterator[Sender]:
    # A short timeout so that a hung request is cut off quickly.
    api_url = telegram.base_url + telegram.token
    sender = Sender(api_url, telegram.token, pacer, answers, connections=8, timeout=0.5)
    yield sender
    await sender.close()


@pytest.fixture
def registry(fake_redis: redis.asyncio.Redis) -> ChatRegistry:
    return ChatRegistry(fake_redis)


@pytest.fixture
def pacer() -> Pacer:
    return Pacer(Limits(per_second=1000, chat_burst=1000))


@pytest.fixture
def delivery(sender: Sender, pacer: Pacer) -> Delivery:
    retry = RetryPolicy(ATTEMPTS, base_delay=0.01, max_delay=0.05)
    return Delivery(sender, pacer, retry, telegram=telegram_outage(sender))


@pytest.fixture
def deliver(delivery: Delivery, registry: ChatRegistry) -> Deliver:
    """Deliver to the chat the registry links, as the pipeline does after its lookup."""

    async def send(parsed: Parsed) -> Result:
        assert parsed.notification.user_id is not None
        chats = await registry.chats_for(parsed.notification.user_id)
        return await delivery.deliver(parsed, Target(chats))

    return send


@pytest.fixture
async def linked(registry: ChatRegistry, telegram: FakeTelegram) -> int:
    telegram.add_chat(9001)
    await registry.link(42, 9001)
    return 9001


async def test_a_linked_user_gets_the_message(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    result = await deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 1)
    [sent] = telegram.sent
    assert (sent.chat_id, sent.text) == (linked, NOTE.notification.message)
    assert "allow_paid_broadcast" not in sent.params


async def test_an_unlinked_user_causes_no_telegram_call(
    deliver: Deliver, telegram: FakeTelegram
) -> None:
    assert (await deliver(NOTE)).outcome == Outcome.UNLINKED
    assert telegram.calls_to("sendMessage") == []


async def test_a_user_who_blocked_the_bot_is_not_retried_and_the_settle_is_to_unlink_the_chat(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.block(linked)
    result = await deliver(NOTE)
    assert result.outcome == Outcome.BLOCKED
    assert result.reason == "Forbidden: bot was blocked by the user"
    assert len(telegram.calls_to("sendMessage")) == 1
    [reached] = result.chats
    assert reached.result.links == (LinkChange(42, linked, unlinked="blocked"),)


async def test_flood_control_waits_retry_after_then_sends_and_pauses_every_chat(
    deliver: Deliver, telegram: FakeTelegram, pacer: Pacer, linked: int
) -> None:
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    started = time.monotonic()
    result = await deliver(NOTE)
    assert result.outcome == Outcome.SENT
    assert result.attempts == 1  # a flood wait does not use up the retry budget
    assert time.monotonic() - started >= 1.0  # waited as long as Telegram asked
    assert len(telegram.calls_to("sendMessage")) == 2


async def test_a_429_holds_back_sends_to_other_chats_too(
    deliver: Deliver, telegram: FakeTelegram, pacer: Pacer, registry: ChatRegistry
) -> None:
    pacer.pause(0.5)
    telegram.add_chat(7)
    await registry.link(1, 7)
    started = time.monotonic()
    await deliver(parse_fields({"user_id": 1, "message": "other chat"}))
    assert time.monotonic() - started >= 0.45


async def test_chat_not_found_fails_at_once(
    deliver: Deliver, telegram: FakeTelegram, registry: ChatRegistry
) -> None:
    await registry.link(42, 555)  # a chat Telegram does not know
    result = await deliver(NOTE)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "Chat not found")
    assert len(telegram.calls_to("sendMessage")) == 1


async def test_a_bad_gateway_is_retried_until_it_passes(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    result = await deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 3)


async def test_a_hung_request_is_cut_by_the_timeout_and_retried(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.hang_next("sendMessage", 2.0)
    started = time.monotonic()
    result = await deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 2)
    assert time.monotonic() - started < 1.9  # did not wait for the hung answer
    assert [m.text for m in telegram.sent] == [NOTE.notification.message]


async def test_a_dropped_connection_is_retried(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.drop_next("sendMessage")
    result = await deliver(NOTE)
    assert (result.outcome, result.attempts) == (Outcome.SENT, 2)


async def test_a_lasting_outage_gives_up_after_the_retry_budget(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.fail_next("sendMessage", 502, "Bad Gateway", times=ATTEMPTS)
    result = await deliver(NOTE)
    assert result.outcome == Outcome.FAILED
    assert result.attempts == ATTEMPTS
    assert result.reason == f"Bad Gateway (after {ATTEMPTS} attempts)"
    assert telegram.sent == []


async def test_a_migrated_group_is_followed_and_the_settle_is_to_move_the_link(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    telegram.add_chat(-1001234567890, chat_type="supergroup")
    telegram.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -1001234567890},
    )
    result = await deliver(NOTE)
    assert (result.outcome, result.chat_id) == (Outcome.SENT, -1001234567890)
    assert [m.chat_id for m in telegram.sent] == [-1001234567890]
    [reached] = result.chats
    assert reached.result.links == (LinkChange(42, linked, moved_to=-1001234567890),)


async def test_a_chain_of_migrations_is_cut_short(
    deliver: Deliver, telegram: FakeTelegram, linked: int
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
    result = await deliver(NOTE)
    assert (result.outcome, result.reason) == (Outcome.FAILED, "chat migrated more than 3 times")
    assert len(telegram.calls_to("sendMessage")) == 4


async def test_a_long_message_arrives_as_ordered_parts(
    deliver: Deliver, telegram: FakeTelegram, linked: int
) -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 190 for i in range(10)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 9000

    result = await deliver(parse_fields({"user_id": 42, "message": text}))

    assert result.outcome == Outcome.SENT
    parts = [m.text for m in telegram.sent]
    assert len(parts) == 3
    assert all(utf16_len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text  # cut only at paragraph breaks, nothing lost
    assert parts[0].startswith("Paragraph 0:")


async def test_paid_broadcast_sets_the_flag(
    sender: Sender, pacer: Pacer, telegram: FakeTelegram, linked: int
) -> None:
    delivery = Delivery(sender, pacer, telegram=telegram_outage(sender), paid_broadcast=True)
    await delivery.deliver(NOTE, Target((LinkedChat(linked),)))
    [sent] = telegram.sent
    assert sent.params["allow_paid_broadcast"] in ("true", "True", True)
