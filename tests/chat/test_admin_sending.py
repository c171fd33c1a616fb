"""What an admin sends: /send through the pipeline, /broadcast and /broadcast_cancel."""

from __future__ import annotations

import asyncio
import re

import redis.asyncio

from bot.notification import Outcome
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram, FloodLimits, SentMessage
from tests.bots import RunningBot
from tests.chat.admin_chat import (
    ADMIN,
    admin_bot,  # noqa: F401 - the fixture `bot`
    ask,
    settings_with_admin,  # noqa: F401 - the fixture `admin_settings`
)
from tests.helpers import link_chat, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually


async def link_many(client: redis.asyncio.Redis, telegram: FakeTelegram, count: int) -> None:
    """Users 101.. linked to chats 5001.. (as if each had opened a deep link earlier)."""
    registry = ChatRegistry(client)
    for user in range(1, count + 1):
        telegram.add_chat(5000 + user)
        await registry.link(100 + user, 5000 + user)


async def test_send_goes_through_the_pipeline_and_reports_the_outcome(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    assert await ask(telegram, ADMIN, "/send 42 Test from the admin") == "User 42: sent."
    [received] = [m for m in telegram.sent if m.text == "Test from the admin"]
    assert received.chat_id == 9001
    assert await ask(telegram, ADMIN, "/send 99 anyone there?") == "User 99: unlinked."
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.UNLINKED] == 1)


@TIMING
async def test_broadcast_reaches_50_chats_under_flood_limits_with_live_progress(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_many(redis_client, telegram, 50)
    bot.bot.broadcaster.progress_every = 0.3  # see the progress more often
    telegram.set_limits(FloodLimits())

    started = await ask(telegram, ADMIN, "/broadcast Maintenance tonight at 22:00")
    assert started == "Broadcast: 0 sent, 0 failed, 50 remaining of 50"  # then edited
    assert await ask(telegram, ADMIN, "/broadcast again") == (
        "A broadcast is already running: /broadcast_cancel first."
    )

    delivered = await wait_sent(
        telegram, predicate=lambda m: m.text == "Maintenance tonight at 22:00", count=50, timeout=30
    )
    await eventually(lambda: _progress(telegram).startswith("Broadcast finished"))
    assert _progress(telegram) == "Broadcast finished: 50 sent, 0 failed, 0 remaining of 50"
    assert {m.chat_id for m in delivered} == {5000 + u for u in range(1, 51)}
    assert telegram.rate_limited == 0
    edits = [e.text for e in telegram.edits]
    assert any(
        re.fullmatch(r"Broadcast: \d+ sent, 0 failed, \d+ remaining of 50", e) for e in edits
    )


@TIMING
async def test_a_broadcast_can_be_cancelled(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_many(redis_client, telegram, 200)
    telegram.set_limits(FloodLimits())  # 200 messages take about 7 s
    await ask(telegram, ADMIN, "/broadcast slow news")
    assert (await ask(telegram, ADMIN, "/broadcast_cancel")).startswith("Cancelling")
    await eventually(lambda: _progress(telegram).startswith("Broadcast cancelled"), within=15)
    assert len([m for m in telegram.sent if m.text == "slow news"]) < 200
    assert await ask(telegram, ADMIN, "/broadcast_cancel") == "No broadcast is running."


async def test_a_broadcast_cancelled_while_it_starts_sends_nothing(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """The admin sees the progress message and cancels at once, before the bot has heard
    back from Telegram that the message went out. (From another chat: one chat's updates are
    handled one after another, so from the same chat the cancel comes after the start.)"""
    await link_many(redis_client, telegram, 20)
    calls = len(telegram.calls_to("sendMessage"))
    telegram.hang_next("sendMessage", 0.5)  # the progress message
    telegram.user_says(ADMIN, "/broadcast too early")
    await asyncio.to_thread(telegram.wait_for_call, "sendMessage", count=calls + 1)
    ops = {"id": -100555, "type": "supergroup", "title": "ops"}
    assert (await ask(telegram, ADMIN, "/broadcast_cancel", chat=ops)).startswith("Cancelling")
    await eventually(lambda: _progress(telegram).startswith("Broadcast cancelled"), within=15)
    assert not [m for m in telegram.sent if m.text == "too early"]


def _progress(telegram: FakeTelegram) -> str:
    """The admin's progress message as it reads now."""
    messages: list[SentMessage] = [m for m in telegram.sent if m.chat_id == ADMIN]
    progress = [m for m in messages if m.text.startswith("Broadcast") and "started" not in m.text]
    return progress[-1].text if progress else ""
