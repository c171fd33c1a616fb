"""Every long-lived loop stops when cancelled, even when redis-py loses the cancellation."""

from __future__ import annotations

import asyncio
import random

import redis.asyncio

from bot.sources.reconnect import stop_if_cancelled


async def _loop(client: redis.asyncio.Redis, give_up: asyncio.Event, *, guarded: bool) -> None:
    while not give_up.is_set():  # only so that the test can end an unguarded survivor
        if guarded:
            stop_if_cancelled()
        await client.zrem("notify:test:cancel", "x")


async def _survivors(client: redis.asyncio.Redis, *, guarded: bool, trials: int) -> int:
    survived = 0
    for _ in range(trials):
        give_up = asyncio.Event()
        task = asyncio.create_task(_loop(client, give_up, guarded=guarded))
        await asyncio.sleep(random.uniform(0, 0.003))  # noqa: S311 - timing jitter
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if not done:
            survived += 1
            give_up.set()
            await asyncio.gather(task, return_exceptions=True)
    return survived


async def test_a_loop_over_redis_commands_stops_every_time_it_is_cancelled(
    redis_client: redis.asyncio.Redis,
) -> None:
    # The problem: cancelled in the middle of a command, redis-py sometimes carries on.
    assert await _survivors(redis_client, guarded=False, trials=60) > 0
    # The guard every loop of the bot calls each round.
    assert await _survivors(redis_client, guarded=True, trials=200) == 0
