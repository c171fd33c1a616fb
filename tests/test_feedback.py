"""End to end: what the chat says back. A reply (to a notification asking for one, or a
swipe-reply to any with an id) and a reaction reach the web app as events, once each; a
notification with reminders is sent again until a tap, a reply, a reaction or the web app
acknowledges it, and after the last reminder the web app hears that nobody did."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button, FeedbackEvent
from bot.store.chats import LinkedChat
from bot.store.feedback import ABOUT_PREFIX
from bot.store.reminders import ACKED_PREFIX, REMIND_PREFIX, remind_members
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
    await link_chat(telegram, redis_client, user_id=45, chat_id=9005)
    publish(settings, user_id=45, message="Gone", id="n-45")
    mine = await sent_one(telegram, redis_client, "Yours")
    theirs = await sent_one(telegram, redis_client, "Theirs", chat_id=9002)
    linked_reply = next(m for m in telegram.sent if m.chat_id == CHAT)  # "linked": no notification

    telegram.user_says(CHAT, "to the link message", reply_to=linked_reply.message_id)
    # Forged: user 42's chat names user 43's notification (another chat's message id).
    forged = {"message_id": theirs.message_id, "chat": {"id": 9002, "type": "private"}, "date": 0}
    telegram.user_says(CHAT, "forged", reply_to=forged)
    # A chat unlinked since: its notification is no longer its user's there.
    gone = await sent_one(telegram, redis_client, "Gone", chat_id=9005)
    await publisher(settings, redis_client).unlink(45)
    telegram.user_says(9005, "from a chat unlinked since", reply_to=gone.message_id)
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


async def none_after(
    telegram: FakeTelegram, web: AsyncPublisher, text: str, seconds: float
) -> list[SentMessage]:
    """The messages reading `text` once a sentinel held in the schedule for `seconds` (longer
    than a reminder's interval) has arrived: a reminder due before it would have come first.
    No sleep: the schedule that would release the reminder releases the sentinel."""
    sentinel = f"sentinel {seconds}"
    await web.enqueue(USER, sentinel, deliver_at=seconds)
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == sentinel)
    return [m for m in telegram.sent if m.text == text]


@pytest.mark.parametrize("how", ["reply", "reaction", "op"])
async def test_a_reply_a_reaction_or_the_web_app_acknowledges_it_after_a_reminder(
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
        await web.publish(USER, "Sign the form", id="form-3", remind=(1, 5))
        await wait_sent(
            telegram, chat_id=CHAT, predicate=lambda m: m.text == "Sign the form", count=2
        )
        # Answered on the reminder: its messages are the notification's too.
        reminder = await noted(
            redis_client, [m for m in telegram.sent if m.text == "Sign the form"][1]
        )
        if how == "reply":
            telegram.user_says(CHAT, "signed", reply_to=reminder.message_id)
        elif how == "reaction":
            telegram.react(CHAT, CHAT, reminder.message_id, emoji=["👍"])
        else:
            await web.ack("form-3", USER)
        receipt = await receipt_for(receipts, "acknowledged")
    assert (receipt["id"], receipt["user_id"], receipt["by"]) == ("form-3", USER, how)
    assert len(await none_after(telegram, web, "Sign the form", 2.5)) == 2  # no more reminders
    assert not await reminders_left(redis_client, "form-3")


async def test_an_acknowledgement_of_an_earlier_notification_with_the_id_stops_no_new_reminders(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """An id used again once its window is over (a daily "standup"): yesterday's answer does
    not acknowledge today's."""
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    web = publisher(settings, redis_client)
    await web.publish(USER, "Day 1", id="standup")
    day1 = await sent_one(telegram, redis_client, "Day 1")
    telegram.user_says(CHAT, "done", reply_to=day1.message_id)
    await eventually(lambda: redis_client.exists(f"{ACKED_PREFIX}standup"))
    await redis_client.delete("notify:delivered:standup")  # as when the window has passed
    await web.publish(USER, "Day 2", id="standup", remind=(1, 1))
    replied, event = await events(settings, redis_client, 2)
    assert (replied.type, replied.text) == ("reply", "done")
    assert (event.type, event.reason, event.reminders) == ("unacknowledged", "unanswered", 1)
    assert len([m for m in telegram.sent if m.text == "Day 2"]) == 2


async def test_reminders_that_cannot_go_on_tell_the_web_app_why(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """Blocked (Telegram's 403), unlinked (the bot heard the block), or expired: the web app
    hears that nobody acknowledged it, and why, to fall back to e-mail or a phone call."""
    for user, chat in ((USER, CHAT), (43, 9002), (44, 9003)):
        await link_chat(telegram, redis_client, user_id=user, chat_id=chat)
    web = publisher(settings, redis_client)
    await web.publish(USER, "Blocked soon", id="b-1", remind=(1, 3))
    await web.publish(43, "Unlinked soon", id="u-1", remind=(1, 3))
    await sent_one(telegram, redis_client, "Blocked soon")
    await sent_one(telegram, redis_client, "Unlinked soon", chat_id=9002)
    telegram.block(CHAT, notify=False)  # only the next send's 403 tells
    telegram.block(9002)  # Telegram tells the bot at once: the chat is unlinked
    await web.publish(44, "Expires soon", id="e-1", remind=(1, 5), ttl=1.5)
    seen = sorted(await events(settings, redis_client, 3), key=lambda e: e.id or "")
    assert [(e.id, e.type, e.reason) for e in seen] == [
        ("b-1", "unacknowledged", "blocked"),
        ("e-1", "unacknowledged", "expired"),
        ("u-1", "unacknowledged", "unlinked"),
    ]
    assert [e.reminders for e in seen] == [0, 1, 0]  # one went out before it expired
    for notification_id in ("b-1", "e-1", "u-1"):
        assert not await reminders_left(redis_client, notification_id)


async def test_a_64_bit_user_id_goes_through_replies_and_acknowledgements_intact(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    big = 2**62 + 1  # a double would round it
    await link_chat(telegram, redis_client, user_id=big, chat_id=CHAT)
    web = publisher(settings, redis_client)
    async with redis_client.pubsub() as receipts:
        await receipts.subscribe(settings.receipt_channel)
        await web.publish(big, "Big", id="big-1", reply=True, remind=(3600, 1))
        sent = await sent_one(telegram, redis_client, "Big")
        telegram.user_says(CHAT, "ok", reply_to=sent.message_id)
        receipt = await receipt_for(receipts, "acknowledged")
    [event] = await events(settings, redis_client, 1)
    assert event.user_id == big
    assert receipt["user_id"] == big


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


async def test_a_reminder_due_in_the_users_quiet_hours_waits_for_their_end(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """Quiet hours that began after the send (by Redis's clock, which decides): the next
    reminder is held until they end, not sent."""
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
    web = publisher(settings, redis_client)
    await web.publish(USER, "Quietly", id="quiet-1", remind=(1, 3))
    await sent_one(telegram, redis_client, "Quietly")
    seconds, _micro = await redis_client.time()
    now = datetime.fromtimestamp(seconds, UTC)
    start, end = now - timedelta(minutes=1), now + timedelta(minutes=3)
    await web.set_preferences(
        USER, quiet=f"{start:%H:%M}-{end:%H:%M}", quiet_mode="hold", timezone="UTC"
    )
    member = remind_members("quiet-1")[1]  # normal priority

    async def held_until_the_end() -> bool:
        due = await redis_client.zscore(SCHEDULED, member)
        return due is not None and due / 1000 >= end.replace(second=0).timestamp()

    await eventually(held_until_the_end)
    assert [m.text for m in telegram.sent if m.text == "Quietly"] == ["Quietly"]
