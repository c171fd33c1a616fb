"""The per-user message budget: a flood from one user is dropped early and slows nobody else."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio

from bot.chat.per_chat import BACKLOG
from bot.chat.throttle import SLOW_DOWN, CommandBudget
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.testing import FakeTelegram, FloodLimits
from tests.bots import start_bot
from tests.helpers import wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually


def test_a_burst_then_the_rate_then_nothing_until_it_refills() -> None:
    budget = CommandBudget(burst=3, per_minute=60)  # one a second after the burst
    assert [budget.allow(7, now=0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.allow(8, now=0.0)  # another user has a budget of their own
    assert not budget.allow(7, now=0.5)
    assert budget.allow(7, now=1.6)
    assert not budget.allow(7, now=1.7)


def test_admins_are_never_throttled() -> None:
    budget = CommandBudget(burst=1, per_minute=1, exempt={777})
    assert all(budget.allow(777, now=0.0) for _ in range(50))


@TIMING
async def test_one_user_flooding_commands_does_not_hold_up_another(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """200 /start from one user, Telegram's limits enforced: another user's /help is answered
    within 2 s; the flooder's chat is handled one update at a time, what piles up beyond its
    backlog is dropped, its burst is answered and then "slow down"; Telegram never has to
    say 429."""
    running = await start_bot(settings.model_copy(update={"telegram_chat_burst": 3}))
    try:
        telegram.set_limits(FloodLimits())
        for _ in range(200):
            telegram.user_says(1111, "/start")
        await asyncio.to_thread(telegram.wait_for_call, "getUpdates", count=3)
        asked = time.monotonic()
        telegram.user_says(2222, "/help")
        [reply] = await wait_sent(telegram, chat_id=2222)
        answered_in = time.monotonic() - asked
        assert reply.text == HELP
        assert answered_in < 2.0, answered_in
        await eventually(lambda: telegram.pending_updates() == 0)
        await eventually(
            lambda: SLOW_DOWN in [m.text for m in telegram.sent if m.chat_id == 1111], within=15
        )
        flooder = [m.text for m in telegram.sent if m.chat_id == 1111]
        assert flooder[:5] == [flooder[0]] * 5  # the burst answered
        assert len(flooder) <= 1 + BACKLOG  # one handled, those behind it; the rest dropped
        assert telegram.rate_limited == 0
    finally:
        telegram.set_limits(None)
        await running.shutdown()
