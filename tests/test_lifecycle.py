"""A notification's whole life, end to end against the emulator: edited and deleted in place,
expired, scheduled, cancelled, prioritised and fanned out, as a web app publishes them."""

from __future__ import annotations

import time

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.notification.parsing import Parsed
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram, FloodLimits
from tests.bots import RunningBot
from tests.helpers import link_chat, next_json, publish, receipt_for, reply_to, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually

ADMIN = 7001
USER, CHAT = 42, 9001


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN})})


async def ask(telegram: FakeTelegram, text: str) -> str:
    return (await reply_to(telegram, ADMIN, text)).text


async def test_an_order_is_updated_twice_in_place_then_deleted(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="order-17", message="Order #17: packed")
    [sent] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: "#17" in m.text)
    for status in ("shipped", "delivered"):
        publish(
            settings,
            op="edit",
            id="order-17",
            user_id=USER,
            message=f"Order #17: <b>{status}</b>",
            format="html",
        )
        receipt = await receipt_for(receipts, "edited")
        assert receipt == {
            "id": "order-17",
            "user_id": USER,
            "status": "edited",
            "message_ids": [sent.message_id],
            "chats": [{"chat": "private", "status": "edited", "message_ids": [sent.message_id]}],
        }
    [shown] = [m for m in telegram.sent if "#17" in m.text]
    assert (shown.message_id, shown.text) == (sent.message_id, "Order #17: delivered")
    assert shown.entities == [{"type": "bold", "offset": 11, "length": 9}]

    publish(settings, op="delete", id="order-17", user_id=USER)
    assert (await receipt_for(receipts, "deleted"))["id"] == "order-17"
    assert (CHAT, sent.message_id) in telegram.deleted
    # Forgotten once deleted: another edit finds nothing.
    publish(settings, op="edit", id="order-17", user_id=USER, message="again")
    assert (await receipt_for(receipts, "not_found"))["id"] == "order-17"


async def test_an_edit_that_needs_more_parts_sends_them_and_one_with_fewer_deletes_them(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="log", message="short")
    [first] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "short")
    publish(settings, op="edit", id="log", user_id=USER, message="x" * 5000)
    grown = await receipt_for(receipts, "edited")
    assert grown["message_ids"][0] == first.message_id
    assert len(grown["message_ids"]) == 2
    publish(settings, op="edit", id="log", user_id=USER, message="short again")
    shrunk = await receipt_for(receipts, "edited")
    assert shrunk["message_ids"] == [first.message_id]
    assert (CHAT, grown["message_ids"][1]) in telegram.deleted


async def test_unknown_ids_and_another_users_id_are_not_found(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="mine", message="mine")
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "mine")
    publish(settings, op="delete", id="mine", user_id=USER + 1)
    assert (await receipt_for(receipts, "not_found"))["user_id"] == USER + 1
    publish(settings, op="edit", id="never-sent", user_id=USER, message="?")
    assert (await receipt_for(receipts, "not_found"))["id"] == "never-sent"
    assert not telegram.deleted
    assert not telegram.calls_to("editMessageText")


async def test_a_message_older_than_48_hours_cannot_be_deleted_and_the_outcome_says_so(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="old", message="old news")
    [sent] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "old news")
    telegram.age_message(CHAT, sent.message_id, 49 * 3600)
    publish(settings, op="delete", id="old", user_id=USER)
    await receipt_for(receipts, "failed")
    [dead] = await running_bot.bot.dead_letters.latest(1)
    assert "48 hours" in dead.reason
    assert not telegram.deleted


async def test_an_expired_notification_is_not_sent_neither_first_nor_on_a_retry(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="code-1", message="123456", expires_at=time.time() - 1)
    assert (await receipt_for(receipts, "expired"))["id"] == "code-1"
    # Telegram says wait a second; by then the code's half second is over.
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    publish(settings, user_id=USER, id="code-2", message="654321", ttl=0.5)
    assert (await receipt_for(receipts, "expired"))["id"] == "code-2"
    assert not [m for m in telegram.sent if m.text in ("123456", "654321")]
    assert running_bot.bot.stats.outcomes[Outcome.EXPIRED] == 2


async def test_a_scheduled_notification_waits_in_redis_and_arrives_on_time(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    telegram.add_chat(ADMIN)
    due = time.time() + 1.5
    publish(settings, user_id=USER, id="trial", message="Your trial ends tomorrow", deliver_at=due)
    assert (await receipt_for(receipts, "scheduled"))["id"] == "trial"
    listing = await ask(telegram, "/scheduled")
    assert listing.startswith("1 scheduled")
    assert "user 42 · id trial" in listing
    [sent] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: "trial" in m.text)
    assert due <= sent.at < due + 1.0
    assert (await receipt_for(receipts, "sent"))["id"] == "trial"
    assert await ask(telegram, "/scheduled") == "Nothing is scheduled."


async def test_a_cancelled_scheduled_notification_never_arrives(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, id="later", message="later", deliver_at=time.time() + 60)
    await receipt_for(receipts, "scheduled")
    publish(settings, op="cancel", id="later")
    assert (await receipt_for(receipts, "cancelled"))["id"] == "later"
    publish(settings, op="cancel", id="later")
    assert (await receipt_for(receipts, "not_found"))["id"] == "later"


@TIMING
async def test_a_high_notification_passes_a_bulk_backlog_in_the_streams(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """90 bulk notifications wait at Telegram's 30/s; a high one added after them goes out
    within a few sends, not three seconds later."""
    registry = ChatRegistry(redis_client)
    for user in range(1, 91):
        telegram.add_chat(5000 + user)
        await registry.link(100 + user, 5000 + user)
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    telegram.set_limits(FloodLimits())
    bulk = f"{settings.notification_stream}:bulk"
    high = f"{settings.notification_stream}:high"
    for user in range(1, 91):
        await redis_client.xadd(
            bulk, {"payload": f'{{"user_id": {100 + user}, "message": "news"}}'}
        )
    await wait_sent(telegram, predicate=lambda m: m.text == "news", count=10, timeout=10)
    await redis_client.xadd(high, {"payload": '{"user_id": 42, "message": "login code"}'})
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "login code")
    order = [m.text for m in telegram.sent if m.text in ("news", "login code")]
    assert order.index("login code") < 30, order.index("login code")


async def test_a_fan_out_reaches_every_linked_user_once_with_one_summary(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    registry = ChatRegistry(redis_client)
    for user in range(1, 31):
        telegram.add_chat(5000 + user)
        await registry.link(100 + user, 5000 + user)
    users = [100 + user for user in range(1, 36)]  # 5 of them never linked
    publish(settings, user_ids=users, message="News #48", id="news-48")
    summary = await receipt_for(receipts, "fanout_done")
    assert summary == {
        "id": "news-48",
        "status": "fanout_done",
        "sent": 30,
        "failed": 0,
        "skipped": 5,
        "cancelled": 0,
    }
    sent = [m.chat_id for m in telegram.sent if m.text == "News #48"]
    assert sorted(sent) == [5000 + user for user in range(1, 31)]
    # The same fan-out again (a web app retrying) is not a new one.
    publish(settings, user_ids=users, message="News #48", id="news-48")
    await eventually(lambda: running_bot.bot.stats.received >= 36)
    assert len([m for m in telegram.sent if m.text == "News #48"]) == 30


async def test_a_fan_out_with_receipts_each_reports_every_recipient(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_ids=[USER, 43], message="hi all", id="hi", receipts="each")
    seen = [await next_json(receipts) for _ in range(3)]
    statuses = sorted((r["user_id"], r["status"]) for r in seen if "user_id" in r)  # type: ignore[index,operator]
    assert statuses == [(USER, "sent"), (43, "unlinked")]
    assert any(r["status"] == "fanout_done" for r in seen)  # type: ignore[index]


async def test_a_fan_out_sends_each_user_once_however_often_they_are_listed(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """`user_ids: [42] * 500 + [43]`: one message to user 42's chat (main sent 500, at the
    chat's pace for minutes), and the summary counts two recipients."""
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_ids=[USER] * 500 + [43], message="once each", id="once")
    summary = await receipt_for(receipts, "fanout_done")
    assert (summary["sent"], summary["skipped"]) == (1, 1)
    assert [m.chat_id for m in telegram.sent if m.text == "once each"] == [CHAT]


async def test_a_fan_out_is_parsed_once_where_it_arrives(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """Its message was parsed again on the event loop when the run began, at any size (40
    fan-outs of hostile Markdown kept /help waiting 16.8 s). The run here takes the parsed one;
    only a run resumed elsewhere parses the stored payload (off the loop when it is long)."""
    fanouts = running_bot.bot.fanouts
    parsed_again: list[str] = []
    parse = fanouts.parse

    async def counted(payload: str) -> Parsed:
        parsed_again.append(payload)
        return await parse(payload)

    fanouts.parse = counted
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    message = "**News** " + "*_" * 1000
    publish(settings, user_ids=[USER, 43], message=message, format="markdown", id="once")
    assert (await receipt_for(receipts, "fanout_done"))["sent"] == 1
    assert parsed_again == []
