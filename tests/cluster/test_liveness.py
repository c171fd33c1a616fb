"""Heartbeats: what each instance says of itself, and the clock they read."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio

from bot.cluster.liveness import Heartbeat
from bot.store.clock import RedisClock
from tests.waiting import eventually


async def test_each_beat_reads_redis_clock_for_the_decisions_about_when(
    redis_client: redis.asyncio.Redis,
) -> None:
    clock = RedisClock(offset=1000.0)  # as if this process's clock were 1,000 s behind
    beat = Heartbeat(redis_client, "notify:instances:test", "clocked", lambda: 0, clock=clock)
    beating = asyncio.create_task(beat.run())
    try:
        await eventually(lambda: beat.connected_for() > 0)
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
    seconds, micros = await redis_client.time()
    assert abs(clock.now() - (seconds + micros / 1e6)) < 0.5


async def test_a_leaders_beat_says_it_holds_something_before_it_reads(
    redis_client: redis.asyncio.Redis,
) -> None:
    """Its last beat may be from before it read a burst: a successor must not take "holding
    nothing" from it (CI: 46 of 100 sent twice). Leading, it says 1 at least, until it steps
    down; then what it holds, at once."""
    key = "notify:instances:test"
    beat = Heartbeat(redis_client, key, "leader", lambda: 0, every=3600)
    beating = asyncio.create_task(beat.run())
    judge = Heartbeat(redis_client, key, "judge", lambda: 0)
    try:
        await eventually(lambda: beat.connected_for() > 0)
        [peer] = await judge.peers()
        assert peer.holding == 0
        await beat.lead()
        [peer] = await judge.peers()
        assert peer.holding == 1
        beat.stepped_down()

        async def holds_nothing() -> bool:
            return [p.holding for p in await judge.peers()] == [0]

        await eventually(holds_nothing, within=2)  # not at the next tick, an hour away
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)


async def test_a_stop_swallowed_during_a_beat_still_ends_the_heartbeat_at_once(
    redis_client: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py may swallow a cancellation that lands inside a command (stop_if_cancelled):
    the heartbeat stops then, not a tick later. (Each bot's shutdown after its leader stepped
    down waited out a second here, the last thing it does.)"""
    beat = Heartbeat(redis_client, "notify:instances:test", "stopping", lambda: 0, every=3600)
    real_beat = beat._beat  # the command the cancellation lands in
    inside = asyncio.Event()

    async def a_beat_that_swallows_a_cancel(**kwargs: object) -> object:
        result = await real_beat(**kwargs)  # type: ignore[arg-type]
        if beat.connected_for() > 0:  # not the first beat: this one is cut short
            inside.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return result

    monkeypatch.setattr(beat, "_beat", a_beat_that_swallows_a_cancel)
    beating = asyncio.create_task(beat.run())
    try:
        await eventually(lambda: beat.connected_for() > 0)
        beat.stepped_down()  # beat now, not in an hour
        await inside.wait()
        beating.cancel()
        await asyncio.wait({beating}, timeout=5)
        assert beating.cancelled()
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
