"""The shape of the code, as a user of it would notice: what a web app's import drags in, and
what a notification costs in Redis round trips on its way to Telegram."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.helpers import link_chat, plain_publish, report, wait_sent
from tests.waiting import eventually


def test_importing_the_publisher_loads_no_telegram_and_leaves_the_environment_alone() -> None:
    code = (
        "import os, sys; before = dict(os.environ); import bot.publisher; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'httpx', "
        "'aiohttp', 'structlog'} | {m for m in sys.modules if m.startswith('bot.config')}); "
        "print(heavy, dict(os.environ) == before)"
    )
    env = {key: value for key, value in os.environ.items() if key != "PTB_TIMEDELTA"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[] True"


async def test_a_plain_notification_costs_two_redis_round_trips(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path's guard in the suite (the bench's CPU ratio against the bare sender is the
    other): one trip before the send (the chat, preferences, the id), one after (the settle).
    It replaced a limit on how many of our files a notification passes, which rewarded big
    modules."""
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    trips = running_bot.bot.dispatcher._trips  # the lanes' shared trips; nothing else to count
    made: list[int] = []
    one_trip = trips._one_trip

    async def counted(trip: list[Any]) -> None:
        made.append(len(trip))
        await one_trip(trip)

    monkeypatch.setattr(trips, "_one_trip", counted)
    plain_publish(
        settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "hi"}
    )
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "hi")
    stats = running_bot.bot.stats
    await eventually(lambda: stats.outcomes[Outcome.SENT] == 1)  # counted, settled next
    await eventually(lambda: len(made) >= 2)
    report(f"Redis round trips for one plain notification: {len(made)} ({made} queued each)")
    assert len(made) == 2
