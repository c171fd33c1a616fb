"""End to end: a tap on an action button reaches the web app once; forged or stale keys do not."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio

from bot.chat.actions import EXPIRED
from bot.chat.throttle import SLOW_DOWN
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher, Button
from bot.store.actions import ACTION_PREFIX, SHOWN_SUFFIX
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, next_json, publish, wait_sent
from tests.waiting import eventually


async def answer_to(telegram: FakeTelegram, query: str) -> dict[str, Any]:
    """The bot's answerCallbackQuery for `query` (waited for off the event loop)."""
    return await asyncio.to_thread(telegram.wait_for_answer, query)


async def actions_seen(settings: Settings, client: redis.asyncio.Redis) -> list[Any]:
    publisher = AsyncPublisher(client, actions_stream=settings.actions_stream)
    return [e async for e in publisher.actions("shop", stop_after=0.3, wait=0.1)]


async def test_a_tap_on_an_action_button_reaches_the_web_app_once_as_an_event(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    await AsyncPublisher(
        redis_client, settings.notification_channel, settings.notification_stream
    ).publish(
        42,
        "Did it arrive?",
        id="order-17",
        buttons=[[Button.action("Received it", "order-17:received")]],
    )
    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: bool(m.buttons))

    query = telegram.tap(9001, sent.message_id, button="Received it")

    answer = await answer_to(telegram, query)
    assert answer.get("text") == "✓ Received it"
    [event] = await actions_seen(settings, redis_client)
    assert (event.action, event.user_id, event.id, event.chat_id, event.message_id) == (
        "order-17:received",
        42,
        "order-17",
        9001,
        sent.message_id,
    )
    assert event.at.endswith("+00:00")


async def test_a_forged_or_expired_key_gets_a_toast_and_no_event(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    publish(
        settings,
        user_id=42,
        message="Approve?",
        buttons=[[{"text": "Approve", "action": "approve"}]],
    )
    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: bool(m.buttons))
    data = sent.buttons[0][0]["callback_data"]

    forged = telegram.tap(9001, sent.message_id, data="a:AAAAAAAAAAAA:0")
    other_index = telegram.tap(9001, sent.message_id, data=data[:-1] + "5")
    assert (await answer_to(telegram, forged)).get("text") == EXPIRED
    assert (await answer_to(telegram, other_index)).get("text") == EXPIRED

    # The key expires after ACTION_TTL_SECONDS: here, it is made to expire now.
    keys = [k async for k in redis_client.scan_iter(match=ACTION_PREFIX + "*")]
    [key] = [k for k in keys if not k.endswith(SHOWN_SUFFIX.encode())]  # its record
    assert 0 < await redis_client.ttl(key) <= settings.action_ttl_seconds
    await redis_client.delete(key)
    expired = telegram.tap(9001, sent.message_id, button="Approve")
    assert (await answer_to(telegram, expired)).get("text") == EXPIRED
    assert await actions_seen(settings, redis_client) == []


async def test_a_key_from_another_users_message_is_refused(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """The event's user is the one linked to the chat the tap came from: a key copied from
    someone else's message (a modified client can send any data) is no use."""
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    await link_chat(telegram, redis_client, user_id=43, chat_id=9002)
    publish(settings, user_id=42, message="Yours", buttons=[[{"text": "Go", "action": "go"}]])
    publish(settings, user_id=43, message="Mine", buttons=[[{"text": "Go", "action": "go"}]])
    [theirs] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: bool(m.buttons))
    [mine] = await wait_sent(telegram, chat_id=9002, predicate=lambda m: bool(m.buttons))

    stolen = telegram.tap(9002, mine.message_id, data=theirs.buttons[0][0]["callback_data"])

    assert (await answer_to(telegram, stolen)).get("text") == EXPIRED
    assert await actions_seen(settings, redis_client) == []


async def test_buttons_never_shown_leave_no_key_in_redis(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """A notification with action buttons to a user with no chat: its key would otherwise be
    kept for ACTION_TTL_SECONDS (30 days) for nothing."""
    publish(settings, user_id=404, message="Nobody", buttons=[[{"text": "Go", "action": "go"}]])
    receipt: Any = await next_json(receipts)
    assert receipt["status"] == "unlinked"
    assert [k async for k in redis_client.scan_iter(match=ACTION_PREFIX + "*")] == []


async def test_a_long_button_label_still_gets_its_toast(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """A label may be 200 characters; a toast may not be longer than that, "✓ " included."""
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    label = "Yes, " + "really " * 28  # 201 characters before it is trimmed to 200 ...
    publish(settings, user_id=42, message="Sure?", buttons=[[{"text": label[:200], "action": "y"}]])
    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: bool(m.buttons))

    toast = (
        await answer_to(
            telegram, telegram.tap(9001, sent.message_id, data=sent.buttons[0][0]["callback_data"])
        )
    ).get("text")

    assert toast == ("✓ " + label[:200])[:199] + "…"
    [event] = await actions_seen(settings, redis_client)
    assert event.action == "y"


async def test_a_user_tapping_too_fast_gets_a_toast_not_a_chat_message(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    running = await start_bot(
        settings.model_copy(update={"command_burst": 2, "command_per_minute": 1})
    )
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)  # one of the two
        publish(settings, user_id=42, message="Tap", buttons=[[{"text": "Go", "action": "go"}]])
        [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: bool(m.buttons))
        before = len(telegram.sent)
        taps = [telegram.tap(9001, sent.message_id, button="Go") for _ in range(3)]
        answers = [(await answer_to(telegram, query)).get("text") for query in taps]
    finally:
        await running.shutdown()
    assert answers[0] == "✓ Go"
    assert answers[1:] == [SLOW_DOWN, SLOW_DOWN]
    assert len(telegram.sent) == before  # no "slow down" message under the notification


async def test_a_button_works_only_on_its_message_and_while_the_message_shows_it(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """Telegram does not check a tap's data against the message (a modified client sends any
    data on any message). Neither an edit nor a delete took the old key away: after
    `edit(buttons=[])` a forged tap with the old data recorded `pay-9:approve`, and after a
    delete the old data on another bot message recorded `pay-9:reject`."""
    running_bot = await start_bot(settings.model_copy(update={"command_burst": 20}))  # 6 taps
    try:
        await _only_where_shown(running_bot, telegram, redis_client, settings)
    finally:
        await running_bot.shutdown()


async def _only_where_shown(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    publisher = AsyncPublisher(
        redis_client, settings.notification_channel, settings.notification_stream
    )
    yes_no = [[Button.action("Approve", "pay-9:approve"), Button.action("Reject", "pay-9:reject")]]
    await publisher.publish(42, "Pay order 9?", id="pay-9", buttons=yes_no)
    await publisher.publish(
        42, "Ship order 8?", id="ship-8", buttons=[[Button.action("Ship", "ship-8")]]
    )
    [pay, ship] = await wait_sent(
        telegram, chat_id=9001, predicate=lambda m: bool(m.buttons), count=2
    )
    approve, reject = (button["callback_data"] for button in pay.buttons[0])

    # The pay key on the ship message: not its message.
    elsewhere = telegram.tap(9001, ship.message_id, data=approve)
    assert (await answer_to(telegram, elsewhere)).get("text") == EXPIRED

    await publisher.edit("pay-9", 42, "Order 9 paid", buttons=[])
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "Order 9 paid")
    await eventually(lambda: running_bot.bot.stats.outcomes[Outcome.EDITED] == 1)
    edited_away = telegram.tap(9001, pay.message_id, data=approve)
    assert (await answer_to(telegram, edited_away)).get("text") == EXPIRED

    # Edited again with a button of its own: that one works there, the old ones still not.
    refund = [[Button.action("Refund", "pay-9:refund")]]
    await publisher.edit("pay-9", 42, "Order 9 paid", buttons=refund)
    await eventually(lambda: running_bot.bot.stats.outcomes[Outcome.EDITED] == 2)
    [now] = [m for m in telegram.sent if m.message_id == pay.message_id]
    tapped = telegram.tap(9001, pay.message_id, button="Refund")
    again = telegram.tap(9001, pay.message_id, data=reject)
    assert (await answer_to(telegram, tapped)).get("text") == "✓ Refund"
    assert (await answer_to(telegram, again)).get("text") == EXPIRED
    assert now.buttons[0][0]["callback_data"] not in (approve, reject)

    await publisher.delete("ship-8", 42)
    await eventually(lambda: running_bot.bot.stats.outcomes[Outcome.DELETED] == 1)
    ship_data = ship.buttons[0][0]["callback_data"]
    deleted = telegram.tap(9001, pay.message_id, data=ship_data)
    assert (await answer_to(telegram, deleted)).get("text") == EXPIRED
    assert [event.action for event in await actions_seen(settings, redis_client)] == [
        "pay-9:refund"
    ]
