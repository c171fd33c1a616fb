"""End to end against the emulator: linking a group through its startgroup link (its
administrators only), a channel by posting its token, a forum topic; the refusals; and the link
going when the bot is removed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.linking import (
    ADMINS_ONLY_LINK,
    ADMINS_ONLY_STOP,
    FOR_A_GROUP,
    FOR_PRIVATE,
    LIMIT,
    LINKED_CHANNEL,
    LINKED_GROUP,
    LINKED_TOPIC,
    UNLINKED_GROUP,
    USED_UP,
)
from bot.chat.preferences import IN_PRIVATE
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.publisher import AsyncPublisher
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import publish, receipt_for, reply_to, token_of, wait_sent
from tests.waiting import eventually

USER = 42
ADMIN = 7  # an administrator of the groups and channels here
MEMBER = 8  # a member who is none
GROUP = -1001000000501
FORUM = -1001000000502
CHANNEL = -1001000000503
BOT = "notify_demo_bot"


async def _group_token(client: redis.asyncio.Redis) -> str:
    link = await AsyncPublisher(client).create_link(USER, group=True)
    assert link.startswith(f"https://t.me/{BOT}?startgroup=")
    return token_of(link)


async def _said_in(telegram: FakeTelegram, chat_id: int, count: int) -> str:
    """The text of the bot's `count`th message in `chat_id`."""
    return (await wait_sent(telegram, chat_id=chat_id, count=count))[-1].text


async def _link_events(client: redis.asyncio.Redis, settings: Settings) -> list[tuple[str, ...]]:
    entries: Any = await client.xrange(settings.link_events_stream)
    events = [json.loads(fields[b"payload"]) for _id, fields in entries]
    return [(e["type"], e["reason"], e["chat"]) for e in events]


async def test_a_group_is_linked_by_its_administrator_and_unlinked_when_the_bot_is_removed(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    registry = running_bot.bot.registry
    telegram.add_group(
        GROUP, title="Shop", chat_type="supergroup", creator=ADMIN, members=(MEMBER,)
    )
    token = await _group_token(redis_client)

    # A member who is no administrator opens the link: the bot joins, but links nothing, and
    # the token, which the whole group has seen in the /start, works no more.
    with capture_logs() as logs:
        telegram.add_bot(GROUP, by=MEMBER, start=token)
        assert await _said_in(telegram, GROUP, 1) == f"{ADMINS_ONLY_LINK}\n\n{USED_UP}"
    assert await registry.chats_for(USER) == ()
    assert await registry.token(token) is None
    assert [e["reason"] for e in logs if e["event"] == "link_rejected"] == [
        "not a group administrator"
    ]

    # The administrator sends /start with a new one (what the link sends): linked.
    telegram.user_says(ADMIN, f"/start@{BOT} {await _group_token(redis_client)}", chat=GROUP)
    assert await _said_in(telegram, GROUP, 2) == LINKED_GROUP
    assert await registry.chats_for(USER) == (LinkedChat(GROUP, "group"),)
    (info,) = await registry.described(await registry.chats_for(USER))
    assert info.title == "Shop"

    publish(settings, user_id=USER, message="order 17 is paid")
    await wait_sent(telegram, chat_id=GROUP, predicate=lambda m: m.text == "order 17 is paid")

    telegram.user_says(MEMBER, f"/stop@{BOT}", chat=GROUP)
    assert await _said_in(telegram, GROUP, 4) == ADMINS_ONLY_STOP
    assert await registry.chats_for(USER) != ()

    telegram.remove_bot(GROUP, by=ADMIN)
    await eventually(lambda: _no_chats(registry))
    assert await _link_events(redis_client, settings) == [
        ("linked", "start", "group"),
        ("unlinked", "removed", "group"),
    ]


async def _no_chats(registry: ChatRegistry) -> bool:
    return await registry.chats_for(USER) == ()


async def test_an_administrator_stops_a_group_and_tokens_of_another_kind_are_refused(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
) -> None:
    registry = running_bot.bot.registry
    chat = telegram.add_group(GROUP, chat_type="supergroup", creator=ADMIN, bot_status="member")
    private = token_of(await AsyncPublisher(redis_client).create_link(USER))
    group = await _group_token(redis_client)

    reply = await reply_to(telegram, ADMIN, f"/start@{BOT} {private}", chat=chat)
    assert reply.text == f"{FOR_PRIVATE}\n\n{USED_UP}"
    assert await registry.token(private) is None  # the group saw it
    assert (await reply_to(telegram, 4242, f"/start {group}")).text == FOR_A_GROUP
    assert await registry.token(group) is not None  # only its user saw it
    assert await registry.chats_for(USER) == ()

    telegram.user_says(ADMIN, f"/start@{BOT} {group}", chat=GROUP)
    linked = (await wait_sent(telegram, chat_id=GROUP, count=2))[-1]
    assert linked.text == LINKED_GROUP
    # The user's preferences are theirs: not changed by whoever is in a group of theirs,
    # with a command or with a /settings button's data forged onto a message there.
    telegram.user_says(ADMIN, f"/settings@{BOT}", chat=GROUP)
    assert await _said_in(telegram, GROUP, 3) == IN_PRIVATE
    query = telegram.tap(GROUP, linked.message_id, data="p:m:orders", user_id=MEMBER)
    answer = await asyncio.to_thread(telegram.wait_for_answer, query)
    assert answer.get("text") == IN_PRIVATE
    assert await redis_client.hget("notify:prefs", str(USER)) is None
    telegram.user_says(ADMIN, f"/stop@{BOT}", chat=GROUP)
    assert await _said_in(telegram, GROUP, 4) == UNLINKED_GROUP
    assert await registry.chats_for(USER) == ()


async def test_a_chat_past_the_limit_is_refused_with_how_to_free_one(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    bot = await start_bot(settings.model_copy(update={"max_chats_per_user": 2}))
    try:
        await bot.bot.registry.link(USER, 4201)
        await bot.bot.registry.link(USER, LinkedChat(CHANNEL, "channel"))
        token = token_of(await AsyncPublisher(redis_client).create_link(USER))

        reply = await reply_to(telegram, 4203, f"/start {token}")

        assert reply.text == LIMIT.format(limit=2)
        assert [c.chat_id for c in await bot.bot.registry.chats_for(USER)] == [4201, CHANNEL]
    finally:
        await bot.shutdown()


async def test_a_channel_is_linked_by_posting_its_token_which_the_bot_deletes(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    registry = running_bot.bot.registry
    publisher = AsyncPublisher(redis_client)
    # Where the bot is a subscriber only: it can neither delete the post nor write.
    telegram.add_channel(CHANNEL - 1, creator=ADMIN, bot_status="member")
    token = await publisher.create_link_token(USER, kind="channel")
    with capture_logs() as logs:
        telegram.channel_post(CHANNEL - 1, f"/link {token}")
        await eventually(lambda: any(e["event"] == "link_rejected" for e in logs))
    assert await registry.chats_for(USER) == ()
    assert not [m for m in telegram.sent if m.chat_id == CHANNEL - 1]
    assert await registry.token(token) is None  # its post stays readable: the token goes

    telegram.add_channel(CHANNEL, title="Status", creator=ADMIN)
    telegram.channel_post(CHANNEL, "/link to our shop: https://shop.example")  # not a token
    token = await publisher.create_link_token(USER, kind="channel")
    post = telegram.channel_post(CHANNEL, f"/link {token}")["channel_post"]

    assert await _said_in(telegram, CHANNEL, 1) == LINKED_CHANNEL
    assert telegram.deleted == [(CHANNEL, post["message_id"])]  # the token's post, only it
    assert await registry.chats_for(USER) == (LinkedChat(CHANNEL, "channel"),)
    publish(settings, user_id=USER, message="all systems go")
    await wait_sent(telegram, chat_id=CHANNEL, predicate=lambda m: m.text == "all systems go")


async def test_a_forum_topic_gets_its_groups_notifications_until_it_is_deleted(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: object,
) -> None:
    registry = running_bot.bot.registry
    telegram.add_group(FORUM, chat_type="supergroup", creator=ADMIN, bot_status="member")
    orders = telegram.add_topic(FORUM, name="Orders")
    other = telegram.add_topic(FORUM, name="Other")
    token = await _group_token(redis_client)

    telegram.user_says(ADMIN, f"/start@{BOT} {token}", chat=FORUM, thread_id=orders)
    (reply,) = await wait_sent(telegram, chat_id=FORUM)
    assert reply.text == LINKED_TOPIC
    assert reply.params.get("message_thread_id") in (orders, str(orders))
    assert await registry.chats_for(USER) == (LinkedChat(FORUM, "group", orders),)

    publish(settings, user_id=USER, message="into the topic")
    publish(settings, user_id=USER, message="elsewhere", thread_id=other)
    sent = await wait_sent(telegram, chat_id=FORUM, count=3)
    assert [(m.text, int(m.params["message_thread_id"])) for m in sent[1:]] == [
        ("into the topic", orders),
        ("elsewhere", other),  # a notification's own thread_id wins
    ]

    telegram.delete_topic(FORUM, orders)
    with capture_logs() as logs:
        publish(settings, user_id=USER, message="nowhere to go")
        failed = await receipt_for(receipts, "failed")  # type: ignore[arg-type]
    assert failed["chats"][0]["reason"] == (
        "Message thread not found (the topic this group was linked from is gone: "
        "link the group again)"
    )
    assert any(e["event"] == "chat_topic_gone" for e in logs)
    assert await registry.chats_for(USER) == (LinkedChat(FORUM, "group", orders),)


async def test_a_groups_chatter_costs_nobody_their_command_budget(
    telegram: FakeTelegram, running_bot: RunningBot
) -> None:
    """The bot as an administrator sees every message in the group: only commands count."""
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=ADMIN, members=(MEMBER,), bot_status="administrator"
    )
    for n in range(8):  # over the budget's burst of 5
        telegram.user_says(MEMBER, f"lunch at {n}?", chat=GROUP)
    telegram.user_says(MEMBER, f"/help@{BOT}", chat=GROUP)
    (reply,) = await wait_sent(telegram, chat_id=GROUP)
    assert reply.text == HELP  # no "slow down" before it


async def test_a_channel_token_pasted_in_a_group_is_used_up(
    telegram: FakeTelegram, running_bot: RunningBot, redis_client: redis.asyncio.Redis
) -> None:
    """`/link <channel token>` in a group: every member has seen the token, so it must not
    link another member's channel afterwards (main: the group got the admin refusal and the
    token stayed valid; a member's channel then received user 42's notifications)."""
    registry = running_bot.bot.registry
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=ADMIN, members=[MEMBER], bot_status="member"
    )
    token = await AsyncPublisher(redis_client).create_link_token(USER, kind="channel")
    with capture_logs() as logs:
        telegram.user_says(ADMIN, f"/link {token}", chat=GROUP)
        await eventually(lambda: any(e["event"] == "link_token_burned" for e in logs))
    assert await registry.token(token) is None
    telegram.add_channel(CHANNEL, creator=MEMBER)
    telegram.channel_post(CHANNEL, f"/link {token}")
    await wait_sent(telegram, chat_id=CHANNEL)
    assert await registry.chats_for(USER) == ()
