"""Floods from chats an attacker controls do not hold up anyone else: a channel posting
`/link <random>` again and again, a group whose members each spend their whole command budget.
Another user's /help and deep link are answered within 2 s, and the flood's own replies are
bounded (what cannot be answered soon is dropped, and said once in the log)."""

from __future__ import annotations

import asyncio
import secrets
import time

import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.per_chat import BACKLOG
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.publisher import AsyncPublisher
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.helpers import link_chat, publish, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually

pytestmark = TIMING  # it measures time

INNOCENT = 4242
ATTACKER = 66
CHANNEL = -1001000000666
GROUP = -1001000000667
MEMBERS = range(700, 708)  # eight members of the attacker's group
BOT = "notify_demo_bot"
ANSWER_WITHIN = 2.0
ORDER_BUTTON = {"text": "Received it", "action": "order-5:received"}


async def _innocent_is_answered(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """A new user's deep link, their /help, their tap on a notification's button: each
    answered within ANSWER_WITHIN."""
    started = time.monotonic()
    await link_chat(telegram, redis_client, user_id=INNOCENT, chat_id=INNOCENT)
    linked_after = time.monotonic() - started
    started = time.monotonic()
    telegram.user_says(INNOCENT, "/help")
    [reply] = await wait_sent(
        telegram, chat_id=INNOCENT, predicate=lambda m: m.text == HELP, timeout=10
    )
    helped_after = time.monotonic() - started
    publish(settings, user_id=INNOCENT, message="Order #5", buttons=[[ORDER_BUTTON]])
    [order] = await wait_sent(telegram, chat_id=INNOCENT, predicate=lambda m: m.text == "Order #5")
    started = time.monotonic()
    query = telegram.tap(INNOCENT, order.message_id, button="Received it")
    await asyncio.to_thread(telegram.wait_for_answer, query)
    tapped_after = time.monotonic() - started
    assert reply.text == HELP
    assert linked_after < ANSWER_WITHIN, f"the deep link was answered after {linked_after:.1f} s"
    assert helped_after < ANSWER_WITHIN, f"/help was answered after {helped_after:.1f} s"
    assert tapped_after < ANSWER_WITHIN, f"the tap was answered after {tapped_after:.1f} s"


async def test_a_channel_posting_link_after_link_holds_up_nobody_else(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """30 posts of `/link <43 random characters>` in the attacker's own channel (the bot an
    administrator there): each costs paced calls in that channel (20 a minute)."""
    telegram.add_channel(CHANNEL, creator=ATTACKER)
    with capture_logs():
        for _ in range(30):
            telegram.channel_post(CHANNEL, f"/link {secrets.token_urlsafe(32)}")
        await eventually(lambda: any(call.params.get("chat_id") for call in telegram.calls))
        await _innocent_is_answered(telegram, redis_client, settings)


async def test_a_group_whose_members_spend_their_budgets_holds_up_nobody_else(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """Eight members of the attacker's group each send /help@bot as often as their own budget
    allows (five at once): 40 replies due in a chat that takes 20 a minute."""
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=ATTACKER, members=MEMBERS, bot_status="member"
    )
    with capture_logs() as logs:
        for _ in range(5):
            for member in MEMBERS:
                telegram.user_says(member, f"/help@{BOT}", chat=GROUP)
        await wait_sent(telegram, chat_id=GROUP, count=1)
        await _innocent_is_answered(telegram, redis_client, settings)
    answered = [m for m in telegram.sent if m.chat_id == GROUP]
    dropped = [e for e in logs if e["event"] == "updates_dropped"]
    assert len(answered) <= 1 + BACKLOG  # the one handled and those waiting behind it
    assert [e["chat_id"] for e in dropped] == [GROUP]  # said once, not per update


async def test_every_tap_in_a_busy_group_is_answered_and_recorded(
    telegram: FakeTelegram,
    running_bot: RunningBot,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """Twenty members tap a group notification's button at once (one getUpdates batch): a tap
    takes no chat's turn, so none is dropped with the backlog: each is answered (no spinning
    button) and recorded for the web app."""
    members = range(800, 820)
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=ATTACKER, members=members, bot_status="member"
    )
    await ChatRegistry(redis_client).link(INNOCENT, LinkedChat(GROUP, "group"))
    publish(settings, user_id=INNOCENT, message="Vote", buttons=[[ORDER_BUTTON]])
    [vote] = await wait_sent(telegram, chat_id=GROUP, predicate=lambda m: m.text == "Vote")
    queries = [
        telegram.tap(GROUP, vote.message_id, button="Received it", user_id=member)
        for member in members
    ]
    for query in queries:
        await asyncio.to_thread(telegram.wait_for_answer, query)
    taps = await redis_client.xlen(settings.actions_stream)
    assert taps == len(queries)


async def test_a_token_pasted_in_a_group_by_a_member_over_budget_is_used_up_all_the_same(
    telegram: FakeTelegram, running_bot: RunningBot, redis_client: redis.asyncio.Redis
) -> None:
    """The member's budget spent, their `/link <token>` is dropped before any command runs;
    every member saw the token all the same, so it is used up first."""
    member = MEMBERS[0]
    telegram.add_group(
        GROUP, chat_type="supergroup", creator=ATTACKER, members=[member], bot_status="member"
    )
    for _ in range(6):
        telegram.user_says(member, f"/help@{BOT}", chat=GROUP)
    await wait_sent(telegram, chat_id=GROUP, count=5)
    token = await AsyncPublisher(redis_client).create_link_token(INNOCENT, kind="channel")
    telegram.user_says(member, f"/link {token}", chat=GROUP)
    await eventually(lambda: _gone(redis_client, token))


async def _gone(client: redis.asyncio.Redis, token: str) -> bool:
    return await ChatRegistry(client).token(token) is None
