"""End to end: a user with several chats (private, groups, a forum topic, a channel) gets each
notification in every chat, each with its own outcome in one receipt; and a Redis holding the
version-before's one-chat links keeps working after the upgrade."""

from __future__ import annotations

import redis.asyncio

from bot.notification import LinkedChat
from bot.preferences import parse_categories
from bot.store import schema
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from bot.testing.flood import FloodLimits
from config.settings import Settings
from tests.conftest import RunningBot, start_bot
from tests.helpers import publish, receipt_for, wait_sent

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


async def test_a_notification_narrowed_to_groups_skips_the_private_chat(
    telegram: FakeTelegram, running_bot: RunningBot, settings: Settings, receipts: object
) -> None:
    await _link(telegram, running_bot, (PRIVATE, TOPIC, CHANNEL))

    publish(settings, user_id=USER, message="team only", chats="groups")
    publish(settings, user_id=USER, message="in topic 9", chats="groups", thread_id=9)

    (message,) = await wait_sent(telegram, predicate=lambda m: m.text == "team only")
    assert message.chat_id == TOPIC.chat_id
    first = await receipt_for(receipts, "sent")  # type: ignore[arg-type]
    assert [c["chat"] for c in first["chats"]] == ["group"]
    # A notification's own thread_id wins over the topic the group was linked from: topic 9
    # is no topic of that forum, so Telegram refuses it, and says so for that chat.
    failed = await receipt_for(receipts, "failed")  # type: ignore[arg-type]
    assert failed["chats"][0]["reason"].startswith("Message thread not found (deleted?")
    assert not [m for m in telegram.sent if m.chat_id == PRIVATE.chat_id]


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


async def test_the_mute_button_is_shown_in_the_private_chat_only(
    telegram: FakeTelegram, settings: Settings
) -> None:
    """It mutes the category for the user, in all chats: not a group member's to press."""
    config = settings.model_copy(update={"categories": parse_categories("news:News")})
    bot = await start_bot(config)
    try:
        await _link(telegram, bot, (PRIVATE, SHOP))
        publish(settings, user_id=USER, message="sale", category="news", mute_button=True)
        sent = await wait_sent(telegram, predicate=lambda m: m.text == "sale", count=2)
        buttons = {m.chat_id: m.buttons for m in sent}
        assert buttons[PRIVATE.chat_id] == [[{"text": "🔕 News", "callback_data": "m:news"}]]
        assert buttons[SHOP.chat_id] == []
    finally:
        await bot.shutdown()
