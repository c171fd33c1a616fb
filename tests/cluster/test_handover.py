"""A leader handing over while it still sends what it read: the next one waits for it."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import redis
import redis.asyncio

from bot import app, runtime
from bot.config.settings import Settings
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_directly, wait_sent
from tests.waiting import eventually

USERS, PER_USER, CHAT_BASE = 4, 10, 7000


async def test_a_leader_that_read_a_burst_after_its_last_beat_is_waited_for(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings, redis_url: str
) -> None:
    """The old leader's last heartbeat was made before it read a burst (heartbeats come once a
    second; here once an hour, to make that certain). SIGTERMed while it still sends, it
    hands the lock on at once: the next leader must not take its entries from that old
    "holding nothing" and send them beside it (seen in CI: 46 of 100 sent twice)."""
    with redis.Redis.from_url(redis_url) as client:
        link_directly(client, telegram, range(1, USERS + 1), chat_base=CHAT_BASE)
    paced = settings.model_copy(update={"telegram_max_per_second": 10, "shutdown_timeout": 1})
    old = app.build(paced.model_copy(update={"stream_consumer": "old"}))
    old.heartbeat.every = 3600.0
    stop = asyncio.Event()
    ready = asyncio.Event()
    first = RunningBot(old, stop, asyncio.create_task(runtime.serve(old, stop, ready)))
    second: RunningBot | None = None
    try:
        await asyncio.wait_for(ready.wait(), 15)
        for step in range(PER_USER):
            for user in range(1, USERS + 1):
                note = {"user_id": user, "message": f"u{user} step {step}"}  # no id: doubles show
                await redis_client.xadd(paced.notification_stream, {"payload": json.dumps(note)})
        await wait_sent(telegram, predicate=lambda m: " step " in m.text, count=5)
        second = await start_bot(paced.model_copy(update={"stream_consumer": "next"}))
        await first.shutdown()
        await wait_sent(telegram, predicate=lambda m: " step " in m.text, count=USERS * PER_USER)
        await eventually(lambda: second is not None and second.bot.dispatcher.pending == 0)
    finally:
        for running in (first, second):
            if running is not None and not running.task.done():
                await running.shutdown()
    counts = Counter(m.text for m in telegram.sent if " step " in m.text)
    assert {text: n for text, n in counts.items() if n > 1} == {}
    for user in range(1, USERS + 1):
        texts = [m.text for m in telegram.sent if m.chat_id == CHAT_BASE + user]
        assert texts == [f"u{user} step {step}" for step in range(PER_USER)]
