"""End to end: a user with several chats (private, groups, a forum topic, a channel) gets each
notification in every chat, each with its own outcome in one receipt; a 403 unlinks a chat and
a migrated group's link follows it; and a Redis holding the version-before's one-chat links
keeps working after the upgrade."""

from __future__ import annotations

import asyncio

import redis.asyncio

from bot.config.settings import Settings
from bot.preferences import parse_categories
from bot.publisher import AsyncPublisher
from bot.store import schema
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from bot.testing.flood import FloodLimits
from tests.bots import RunningBot, start_bot
from tests.helpers import publish, receipt_for, wait_sent
from tests.isolation import TIMING

USER = 42
PRIVATE = LinkedChat(4200)
GROUP = LinkedChat(-420, "group")
SHOP = LinkedChat(-1004201, "group")
TOPIC = LinkedChat(-1004202, "group", 7)
CHANNEL = LinkedChat(-1004203, "channel")
FIVE = (PRIVATE, GROUP, SHOP, TOPIC, CHANNEL)


async def _link(telegram: FakeTelegram, bot: RunningBot, chats: tuple[LinkedChat, ...]) -> None:
    registry: ChatRegistry = bot.bot.registry
    for chat in chats:
        kind = {"private": "private", "group": "supergroup", "channel": "channel"}[chat.kind]
        if chat.chat_id == GROUP.chat_id:
            kind = "group"
        topics = (chat.thread_id,) if chat.thread_id else ()
        telegram.add_chat(chat.chat_id, chat_type=kind, topics=topics)
        await registry.link(USER, chat)


@TIMING
async def test_one_notification_reaches_five_chats_paced_each_with_one_receipt(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, FIVE)
    # Telegram's flood limits: each chat may take only so many; none of the sends is refused.
    telegram.set_limits(FloodLimits(chat_burst=3, chat_period=3.0, group_per_minute=20))
    for number in range(3):
        publish(settings, user_id=USER, message=f"order {number}", id=f"o{number}")

    sent = await wait_sent(telegram, predicate=lambda m: m.text.startswith("order"), count=15)

    assert sorted({m.chat_id for m in sent}) == sorted(c.chat_id for c in FIVE)
    for chat in FIVE:
        texts = [m.text for m in sent if m.chat_id == chat.chat_id]
        assert texts == ["order 0", "order 1", "order 2"]  # in order, in every chat
    topic = [m for m in sent if m.chat_id == TOPIC.chat_id]
    assert all(m.params.get("message_thread_id") == 7 for m in topic)
    assert telegram.rate_limited == 0
    receipt = await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert receipt["id"] == "o0"
    assert [(c["chat"], c["status"], c.get("topic")) for c in receipt["chats"]] == [
        ("private", "sent", None),
        ("group", "sent", None),
        ("group", "sent", None),
        ("group", "sent", 7),
        ("channel", "sent", None),
    ]
    assert len(receipt["message_ids"]) == 5


async def test_a_blocked_chat_is_unlinked_alone_and_the_others_still_get_it(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, (PRIVATE, SHOP))
    telegram.block(PRIVATE.chat_id, notify=False)  # only the 403 tells

    publish(settings, user_id=USER, message="still here")

    await wait_sent(telegram, chat_id=SHOP.chat_id, predicate=lambda m: m.text == "still here")
    receipt = await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert [(c["chat"], c["status"]) for c in receipt["chats"]] == [
        ("private", "blocked"),
        ("group", "sent"),
    ]
    assert await running_bot.bot.registry.chats_for(USER) == (SHOP,)


async def test_a_group_that_became_a_supergroup_gets_it_there_and_its_link_follows(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, (GROUP,))
    supergroup = -1000000000420
    telegram.add_chat(supergroup, chat_type="supergroup")
    telegram.fail_next(  # only the 400 tells: the service message never came
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": supergroup},
    )

    publish(settings, user_id=USER, message="moved")

    (message,) = await wait_sent(telegram, predicate=lambda m: m.text == "moved")
    assert message.chat_id == supergroup
    await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert await running_bot.bot.registry.chats_for(USER) == (GROUP._replace(chat_id=supergroup),)


async def test_a_notification_narrowed_to_groups_skips_the_private_chat(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, (PRIVATE, TOPIC, CHANNEL))

    publish(settings, user_id=USER, message="team only", chats="groups")
    (message,) = await wait_sent(telegram, predicate=lambda m: m.text == "team only")
    assert message.chat_id == TOPIC.chat_id
    first = await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert [c["chat"] for c in first["chats"]] == ["group"]
    assert not [m for m in telegram.sent if m.chat_id == PRIVATE.chat_id]

    # A notification's own thread_id wins over the topic the group was linked from, in groups
    # only: the private chat and the channel get it without one. Topic 9 is no topic of that
    # forum: Telegram refuses it there, and the receipt says so for that chat.
    publish(settings, user_id=USER, message="in topic 9", thread_id=9)
    sent = await wait_sent(telegram, predicate=lambda m: m.text == "in topic 9", count=2)
    assert sorted(m.chat_id for m in sent) == sorted([PRIVATE.chat_id, CHANNEL.chat_id])
    assert all("message_thread_id" not in m.params for m in sent)
    second = await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert [(c["chat"], c["status"], c.get("reason")) for c in second["chats"]] == [
        ("private", "sent", None),
        ("group", "failed", "Message thread not found"),
        ("channel", "sent", None),
    ]


async def test_an_edit_and_a_delete_change_the_message_in_every_chat(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, (PRIVATE, SHOP))
    publish(settings, user_id=USER, message="packing", id="order-9")
    await receipt_for(receipts, "sent")  # type: ignore[arg-type]

    publish(settings, op="edit", user_id=USER, message="shipped", id="order-9")
    edited = await receipt_for(receipts, "edited")  # type: ignore[arg-type]
    assert [c["status"] for c in edited["chats"]] == ["edited", "edited"]
    assert sorted(m.chat_id for m in telegram.sent if m.text == "shipped") == sorted(
        [PRIVATE.chat_id, SHOP.chat_id]
    )

    publish(settings, op="delete", user_id=USER, id="order-9")
    await receipt_for(receipts, "deleted")  # type: ignore[arg-type]
    assert not [m for m in telegram.sent if m.text == "shipped"]


async def test_links_of_the_version_before_work_after_the_upgrade(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    # Exactly what the version with one chat per user left in Redis.
    await redis_client.hset(schema.V1_USER_TO_CHAT, str(USER), str(PRIVATE.chat_id))
    await redis_client.hset("notify:chat_user", str(PRIVATE.chat_id), str(USER))
    await redis_client.zadd("notify:linked", {str(USER): 1_700_000_000})
    telegram.add_chat(PRIVATE.chat_id)

    bot = await start_bot(settings)
    try:
        assert await schema.version(redis_client) == schema.VERSION
        publish(settings, user_id=USER, message="after the upgrade")
        (message,) = await wait_sent(telegram, predicate=lambda m: m.text == "after the upgrade")
        assert message.chat_id == PRIVATE.chat_id
    finally:
        await bot.shutdown()


async def test_buttons_that_act_for_the_user_are_not_shown_to_a_channels_readers(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """The mute button mutes for the user, in all chats: private chat only. Action buttons
    report as the user: not in a channel, where every reader could tap; a tap says where."""
    config = settings.model_copy(update={"categories": parse_categories("news:News")})
    bot = await start_bot(config)
    try:
        await _link(telegram, bot, (PRIVATE, SHOP, CHANNEL))
        track = {"text": "Track", "url": "https://shop.example/t/1"}
        publish(
            settings,
            user_id=USER,
            message="sale",
            category="news",
            mute_button=True,
            buttons=[[track, {"text": "Got it", "action": "got-it"}]],
        )
        sent = await wait_sent(telegram, predicate=lambda m: m.text == "sale", count=3)
        buttons = {m.chat_id: m.buttons for m in sent}
        assert [b["text"] for row in buttons[PRIVATE.chat_id] for b in row] == [
            "Track",
            "Got it",
            "🔕 News",
        ]
        assert [b["text"] for row in buttons[SHOP.chat_id] for b in row] == ["Track", "Got it"]
        assert buttons[CHANNEL.chat_id] == [[track]]

        in_group = next(m for m in sent if m.chat_id == SHOP.chat_id)
        got_it = in_group.buttons[0][1]["callback_data"]
        query = telegram.tap(SHOP.chat_id, in_group.message_id, data=got_it, user_id=77)
        await asyncio.to_thread(telegram.wait_for_answer, query)
        publisher = AsyncPublisher(redis_client, actions_stream=config.actions_stream)
        [event] = [e async for e in publisher.actions("shop", stop_after=0.3, wait=0.1)]
        assert (event.action, event.user_id, event.chat) == ("got-it", USER, "group")
    finally:
        await bot.shutdown()


async def test_a_notification_narrowed_to_some_chats_is_never_digested(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """A digest goes to all the user's chats: a line meant for the private chat alone would
    reach the channel in it."""
    config = settings.model_copy(
        update={"categories": parse_categories("news:News"), "digest": {"news": 60}}
    )
    bot = await start_bot(config)
    try:
        await _link(telegram, bot, (PRIVATE, CHANNEL))
        publish(settings, user_id=USER, message="for you alone", category="news", chats="private")
        (message,) = await wait_sent(telegram, predicate=lambda m: m.text == "for you alone")
        assert message.chat_id == PRIVATE.chat_id
        assert await redis_client.exists(f"notify:digest:{USER}:news") == 0
    finally:
        await bot.shutdown()
