"""Instances delivering side by side split Telegram's overall limit between them."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio

from bot.cluster.share import SendShare
from bot.config.settings import Settings
from bot.store.registry import ChatRegistry
from bot.telegram.pacing import Limits, Pacer
from bot.testing import FakeTelegram, FloodLimits
from tests.bots import start_bot
from tests.helpers import report, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually

pytestmark = TIMING  # it measures time

KEY = "notify:senders:test"


async def test_busy_instances_share_and_an_idle_one_gives_its_share_back(
    redis_client: redis.asyncio.Redis,
) -> None:
    busy = {"a": True, "b": True}
    activity = {name: asyncio.Event() for name in busy}
    shares = {
        name: SendShare(
            redis_client,
            KEY,
            name,
            Pacer(Limits()),
            busy=lambda name=name: busy[name],  # type: ignore[misc]
            activity=activity[name],
            interval=0.1,
        )
        for name in busy
    }
    tasks = [asyncio.create_task(share.run()) for share in shares.values()]
    try:
        await eventually(lambda: shares["a"].senders == shares["b"].senders == 2, within=3)
        busy["b"] = False
        await eventually(lambda: shares["a"].senders == 1 and shares["b"].senders == 1, within=3)
        assert await redis_client.zrange(KEY, 0, -1) == [b"a"]

        busy["b"] = True
        activity["b"].set()  # what Dispatcher.accept does
        await eventually(lambda: shares["a"].senders == shares["b"].senders == 2, within=3)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_three_instances_on_one_stream_stay_within_telegrams_limit(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """300 stream notifications to 100 users, three instances sharing the stream, the emulator
    enforcing 30/s: each paced to its own 30/s, the three got 27 x 429 (measured before the
    split); split, they stay within the limit but for a stray 429 while they learn of each
    other, and every notification arrives."""
    registry = ChatRegistry(redis_client)
    for user in range(1, 101):
        await registry.link(user, 10_000 + user)
        telegram.add_chat(10_000 + user)
    bots = [
        await start_bot(
            settings.model_copy(update={"stream_consumer": f"w{n}", "telegram_chat_burst": 3})
        )
        for n in range(3)
    ]
    try:
        telegram.set_limits(FloodLimits())
        started = asyncio.get_running_loop().time()
        async with redis_client.pipeline(transaction=False) as pipe:
            for round_ in range(3):
                for user in range(1, 101):
                    note = {"user_id": user, "message": f"note {user}.{round_}"}
                    pipe.xadd(settings.notification_stream, {"payload": json.dumps(note)})
            await pipe.execute()
        await wait_sent(
            telegram, predicate=lambda m: m.text.startswith("note "), count=300, timeout=90
        )
        took = asyncio.get_running_loop().time() - started
    finally:
        for running in bots:
            await running.shutdown()
    counts = [b.bot.stats.snapshot() for b in bots]  # settled: after the shutdown's drain
    texts = [m.text for m in telegram.sent if m.text.startswith("note ")]
    report(
        f"3 instances, 300 notifications: {took:.1f} s, 429s {telegram.rate_limited},",
        f"sent per instance {[c['sent'] for c in counts]}",
    )
    assert len(texts) == len(set(texts)) == 300
    assert sum(c["sent"] for c in counts) == 300
    assert sum(c["failed"] for c in counts) == 0
    assert telegram.rate_limited <= 3
