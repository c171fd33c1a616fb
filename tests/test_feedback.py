"""End to end: what the chat says back. A reply (to a notification asking for one, or a
swipe-reply to any with an id) and a reaction reach the web app as events, once each; a
notification with reminders is sent again until a tap, a reply, a reaction or the web app
acknowledges it, and after the last reminder the web app hears that nobody did."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button, FeedbackEvent
from bot.store.chats import LinkedChat
from bot.store.feedback import ABOUT_PREFIX, REMIND_PREFIX, remind_members
from bot.store.schedule import SCHEDULED
from bot.testing import FakeTelegram
from bot.testing.model import SentMessage
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, publish, receipt_for, wait_sent
from tests.waiting import eventually

USER, CHAT = 42, 9001
GROUP, MEMBER = -1001000004242, 777


@pytest.fixture
async def bot(settings: Settings, redis_client: redis.asyncio.Redis) -> AsyncIterator[RunningBot]:
    """The bot with reminders allowed every second (REMIND_MIN_SECONDS=1), started after
    `redis_client` emptied the test's database."""
    running = await start_bot(settings.model_copy(update={"remind_min_seconds": 1}))
    yield running
    await running.shutdown()


def publisher(settings: Settings, client: redis.asyncio.Redis) -> AsyncPublisher:
    return AsyncPublisher(
        client,
        settings.notification_channel,
        settings.notification_stream,
        feedback_stream=settings.feedback_stream,
        remind_min_seconds=1,
    )


async def events(
    settings: Settings, client: redis.asyncio.Redis, count: int
) -> list[FeedbackEvent]:
    """The first `count` feedback events (waited for), read as the web app reads them."""
    seen: list[FeedbackEvent] = []
    async for event in publisher(settings, client).feedback("web", wait=0.1, stop_after=10):
        seen.append(event)
        if len(seen) == count:
            break
    return seen


async def all_events(client: redis.asyncio.Redis, settings: Settings) -> list[dict[str, Any]]:
    entries: Any = await client.xrange(settings.feedback_stream)
    return [json.loads(fields[b"payload"]) for _id, fields in entries]


async def noted(client: redis.asyncio.Redis, sent: SentMessage) -> SentMessage:
    """`sent`, once the bot has noted it as its notification's (its settle, just after
    Telegram's answer): a person's reply takes longer than that, a test's does not."""
    key = f"{ABOUT_PREFIX}{sent.chat_id}:{sent.message_id}"
    await eventually(lambda: client.exists(key))
    return sent


async def sent_one(
    telegram: FakeTelegram, client: redis.asyncio.Redis, text: str, chat_id: int = CHAT
) -> SentMessage:
    [sent] = await wait_sent(telegram, chat_id=chat_id, predicate=lambda m: m.text == text)
    return await noted(client, sent)


async def test_a_reply_reaches_the_web_app_once_with_its_words_and_formatting(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    await publisher(settings, redis_client).publish(
        USER, "Where should we leave it?", id="order-17", reply="Your answer"
    )
    sent = await sent_one(telegram, redis_client, "Where should we leave it?")
    assert (sent.force_reply, sent.placeholder) == (True, "Your answer")

    bold = [{"type": "bold", "offset": 0, "length": 4}]
    update = telegram.user_says(CHAT, "Door please", reply_to=sent.message_id, entities=bold)
    # Telegram delivers it again, then the user answers once more: one event for each answer.
    telegram.deliver_again(update)
    telegram.user_says(CHAT, "or the garage", reply_to=sent.message_id)
    event, second = await events(settings, redis_client, 2)
    assert (event.type, event.id, event.user_id, event.chat, event.chat_id) == (
        "reply",
        "order-17",
        USER,
        "private",
        CHAT,
    )
    assert (event.message_id, event.text) == (sent.message_id, "Door please")
    assert [dict(e) for e in event.entities] == bold
    assert event.from_user is None  # a private chat's user is the user
    assert second.text == "or the garage"
    assert [e["text"] for e in await all_events(redis_client, settings)] == [
        "Door please",
        "or the garage",
    ]


async def test_a_reply_in_a_group_names_who_answered_and_a_swipe_reply_counts_too(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=USER, members=[MEMBER], bot_status="member"
    )
    await bot.bot.registry.link(USER, LinkedChat(GROUP, "group"))
    # No `reply` asked for: a swipe-reply to any notification with an id is reported.
    publish(settings, user_id=USER, message="Deploy 41 failed", id="deploy-41")
    sent = await sent_one(telegram, redis_client, "Deploy 41 failed", chat_id=GROUP)
    telegram.user_says(MEMBER, "on it", chat=GROUP, reply_to=sent.message_id)
    [event] = await events(settings, redis_client, 1)
    assert (event.type, event.id, event.chat, event.from_user, event.text) == (
        "reply",
        "deploy-41",
        "group",
        MEMBER,
        "on it",
    )


async def test_replies_that_are_not_to_a_notification_of_the_chat_make_no_event(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    await link_chat(telegram, redis_client, user_id=43, chat_id=9002)
    publish(settings, user_id=USER, message="Yours", id="n-42")
    publish(settings, user_id=43, message="Theirs", id="n-43")
    mine = await sent_one(telegram, redis_client, "Yours")
    theirs = await sent_one(telegram, redis_client, "Theirs", chat_id=9002)
    linked_reply = next(m for m in telegram.sent if m.chat_id == CHAT)  # "linked": no notification

    telegram.user_says(CHAT, "to the link message", reply_to=linked_reply.message_id)
    # Forged: user 42's chat names user 43's notification (another chat's message id).
    forged = {"message_id": theirs.message_id, "chat": {"id": 9002, "type": "private"}, "date": 0}
    telegram.user_says(CHAT, "forged", reply_to=forged)
    telegram.user_says(5555, "from a chat nobody linked", reply_to=None)
    # Then one that counts: only it arrives.
    telegram.user_says(CHAT, "the real one", reply_to=mine.message_id)
    [event] = await events(settings, redis_client, 1)
    assert event.text == "the real one"
    assert [e["text"] for e in await all_events(redis_client, settings)] == ["the real one"]


async def test_reply_with_buttons_is_invalid_with_its_reason(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="reply and buttons: Telegram cannot show"):
        await publisher(settings, redis_client).publish(
            USER, "Pick", id="p-1", reply=True, buttons=[[Button.action("A", "a")]]
        )
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        publish(
            settings,
            user_id=USER,
            message="Pick",
            id="p-2",
            reply=True,
            buttons=[[{"text": "A", "action": "a"}]],
        )
        await receipt_for(receipts, "invalid")
    [letter] = await bot.bot.dead_letters.latest(1)
    assert "reply and buttons" in letter.reason


async def reminders_left(client: redis.asyncio.Redis, notification_id: str) -> bool:
    """Whether a reminder of the notification is still pending in Redis."""
    pending = await client.exists(REMIND_PREFIX + notification_id)
    held = [await client.zscore(SCHEDULED, m) for m in remind_members(notification_id)]
    return bool(pending) or any(score is not None for score in held)


async def test_unacknowledged_it_is_reminded_three_times_then_the_web_app_hears_so(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    await publisher(settings, redis_client).publish(
        USER, "Server down", id="alert-1", remind=(1, 3), priority="high"
    )
    first = await sent_one(telegram, redis_client, "Server down")
    [event] = await events(settings, redis_client, 1)
    copies = [m for m in telegram.sent if m.text == "Server down" and m is not first]
    assert len(copies) == 3
    assert {m.reply_to for m in copies} == {first.message_id}  # each under the first
    assert (event.type, event.id, event.user_id, event.reminders) == (
        "unacknowledged",
        "alert-1",
        USER,
        3,
    )
    assert not await reminders_left(redis_client, "alert-1")


async def test_a_tap_after_the_first_reminder_stops_the_rest(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        await publisher(settings, redis_client).publish(
            USER,
            "Approve the refund?",
            id="refund-9",
            remind=(1, 5),
            buttons=[[Button.action("Approve", "refund-9:approve")]],
        )
        await wait_sent(
            telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("Appr"), count=2
        )
        reminder = await noted(
            redis_client, [m for m in telegram.sent if m.text.startswith("Appr")][1]
        )
        assert reminder.buttons  # a reminder's buttons work like the first's
        telegram.tap(CHAT, reminder.message_id, button="Approve")
        receipt = await receipt_for(receipts, "acknowledged")
    assert (receipt["id"], receipt["by"]) == ("refund-9", "tap")
    assert not await reminders_left(redis_client, "refund-9")
    actions = [
        e async for e in publisher(settings, redis_client).actions("w", stop_after=0.3, wait=0.1)
    ]
    assert [(a.action, a.id) for a in actions] == [("refund-9:approve", "refund-9")]


@pytest.mark.parametrize("how", ["reply", "reaction", "op"])
async def test_a_reply_a_reaction_or_the_web_app_acknowledges_it(
    how: str,
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    web = publisher(settings, redis_client)
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        # Reminders an hour apart: none comes during the test, the first is pending.
        await web.publish(USER, "Sign the form", id="form-3", remind=(3600, 2))
        sent = await sent_one(telegram, redis_client, "Sign the form")
        await eventually(lambda: reminders_left(redis_client, "form-3"))
        if how == "reply":
            telegram.user_says(CHAT, "signed", reply_to=sent.message_id)
        elif how == "reaction":
            telegram.react(CHAT, CHAT, sent.message_id, emoji=["👍"])
        else:
            await web.ack("form-3", USER)
        receipt = await receipt_for(receipts, "acknowledged")
    assert (receipt["id"], receipt["user_id"], receipt["by"]) == ("form-3", USER, how)
    assert not await reminders_left(redis_client, "form-3")


async def test_a_reaction_added_and_removed_makes_two_events(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    publish(settings, user_id=USER, message="Shipped", id="order-18")
    sent = await sent_one(telegram, redis_client, "Shipped")
    telegram.react(CHAT, CHAT, sent.message_id, emoji=["👍"])
    telegram.react(CHAT, CHAT, sent.message_id, emoji=["❤"])
    telegram.react(CHAT, CHAT, sent.message_id)
    seen = await events(settings, redis_client, 3)
    assert [(e.type, e.id, e.message_id) for e in seen] == [
        ("reaction", "order-18", sent.message_id)
    ] * 3
    assert [(list(e.added), list(e.removed)) for e in seen] == [
        (["👍"], []),
        (["❤"], ["👍"]),
        ([], ["❤"]),
    ]


async def test_two_instances_send_each_reminder_once(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """Both instances release what is due and read the streams: each reminder goes out once,
    and the web app hears once that nobody acknowledged it."""
    config = settings.model_copy(update={"remind_min_seconds": 1})
    first = await start_bot(config.model_copy(update={"stream_consumer": "first"}))
    second = await start_bot(config.model_copy(update={"stream_consumer": "second"}))
    try:
        await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
        await publisher(settings, redis_client).enqueue(
            USER, "Disk full", id="disk-1", remind=(1, 3)
        )
        [event] = await events(settings, redis_client, 1)
        assert (event.type, event.reminders) == ("unacknowledged", 3)
        sent = [m for m in telegram.sent if m.text == "Disk full"]
        assert len(sent) == 4  # the notification and three reminders, none twice
        assert [m.reply_to for m in sent] == [None] + [sent[0].message_id] * 3
        assert len(await all_events(redis_client, settings)) == 1
    finally:
        await second.shutdown()
        await first.shutdown()


async def test_an_edit_changes_the_reminders_too_and_a_delete_ends_them(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    web = publisher(settings, redis_client)
    await web.publish(USER, "Meeting at 10", id="meet-1", remind=(1, 10))
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Meeting at 10", count=2)
    await eventually(lambda: _copies(redis_client, "meet-1"))
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        await web.edit("meet-1", USER, "Meeting at 11")
        await receipt_for(receipts, "edited")
        edited = [m for m in telegram.sent if m.text == "Meeting at 11"]
        # The next reminder shows the edit too; none shows the old text any more.
        await wait_sent(
            telegram, predicate=lambda m: m.text == "Meeting at 11", count=len(edited) + 1
        )
        assert not [m for m in telegram.sent if m.text == "Meeting at 10"]
        await web.delete("meet-1", USER)
        await receipt_for(receipts, "deleted")
    assert not [m for m in telegram.sent if m.chat_id == CHAT and m.text.startswith("Meeting")]
    # The next reminder step finds nothing to remind of, and ends them.
    await eventually(lambda: _ended(redis_client, "meet-1"))


async def _copies(client: redis.asyncio.Redis, notification_id: str) -> bool:
    """Whether a reminder of the notification is remembered (its settle was written)."""
    stored = await client.get(f"notify:sent:{notification_id}")
    return stored is not None and b'"copy": true' in stored


async def _ended(client: redis.asyncio.Redis, notification_id: str) -> bool:
    return not await reminders_left(client, notification_id)


async def test_a_cancel_ends_the_reminders(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    web = publisher(settings, redis_client)
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        await web.publish(USER, "Renew", id="renew-1", remind=(3600, 3))
        await receipt_for(receipts, "sent")
        await eventually(lambda: reminders_left(redis_client, "renew-1"))
        await web.cancel("renew-1")
        await receipt_for(receipts, "cancelled")
    assert not await reminders_left(redis_client, "renew-1")
