"""The leader lock on real Redis: one leader at a time, quick hand-over, no two leading."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import redis.asyncio

from bot.cluster.leader import Leadership
from bot.config.settings import Settings
from tests.isolation import TIMING
from tests.waiting import eventually

pytestmark = TIMING  # it measures time

KEY = "notify:leader:test"


class Duty:
    """A stand-in for polling: records when each instance starts and stops leading."""

    def __init__(self, timeline: list[tuple[str, str, float]], name: str) -> None:
        self.timeline = timeline
        self.name = name

    async def __call__(self) -> None:
        self.timeline.append(("start", self.name, time.monotonic()))
        try:
            await asyncio.Event().wait()
        finally:
            self.timeline.append(("stop", self.name, time.monotonic()))


class CountedTries(Leadership):
    """A Leadership that counts its tries for the lock, so a test waits for tries, not time."""

    tries = 0

    async def _try_acquire(self) -> bool:
        self.tries += 1
        return await super()._try_acquire()


def leadership(
    client: redis.asyncio.Redis, name: str, timeline: list[tuple[str, str, float]]
) -> Leadership:
    return Leadership(client, KEY, name, Duty(timeline, name), ttl=1.5, retry=0.2)


@contextlib.asynccontextmanager
async def running(instance: Leadership) -> AsyncIterator[Leadership]:
    """`instance.run()` as a task for the duration of the block, then cancelled."""
    task = asyncio.create_task(instance.run())
    try:
        yield instance
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def leading(timeline: list[tuple[str, str, float]]) -> list[str]:
    """Who leads after replaying the timeline; never more than one at any point."""
    current: list[str] = []
    for event, name, _at in timeline:
        if event == "start":
            current.append(name)
            assert len(current) == 1, f"two leaders at once: {current}"
        else:
            current.remove(name)
    return current


async def test_one_of_three_leads_and_a_stopped_leader_hands_over_at_once(
    redis_client: redis.asyncio.Redis,
) -> None:
    timeline: list[tuple[str, str, float]] = []
    instances = {n: leadership(redis_client, n, timeline) for n in ("a", "b", "c")}
    tasks = {n: asyncio.create_task(i.run()) for n, i in instances.items()}
    try:
        await eventually(lambda: all(i.decided.is_set() for i in instances.values()))
        [first] = leading(timeline)
        assert [n for n, i in instances.items() if i.is_leader] == [first]

        tasks[first].cancel()  # a graceful stop: stop leading, then delete the lock
        stopped = time.monotonic()
        await asyncio.gather(tasks[first], return_exceptions=True)
        await eventually(lambda: len(leading(timeline)) == 1)
        [second] = leading(timeline)
        assert second != first
        took_over = next(at for e, n, at in timeline if e == "start" and n == second)
        assert took_over - stopped < 1.0
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert leading(timeline) == []


async def test_a_dead_leaders_lock_is_taken_over_when_it_expires(
    redis_client: redis.asyncio.Redis,
) -> None:
    # A leader that died without releasing: its lock still runs for 1.5 s.
    await redis_client.set(KEY, "worker.9:dead", px=1500)
    timeline: list[tuple[str, str, float]] = []
    async with running(leadership(redis_client, "worker.1", timeline)) as standby:
        await eventually(standby.decided.is_set)
        assert not standby.is_leader
        await eventually(lambda: standby.is_leader, within=5)
        assert await redis_client.pttl(KEY) > 0


async def test_a_restarted_instance_takes_its_own_lock_back_without_waiting(
    redis_client: redis.asyncio.Redis,
) -> None:
    await redis_client.set(KEY, "worker.1:before-the-crash", px=60_000)
    timeline: list[tuple[str, str, float]] = []
    async with running(leadership(redis_client, "worker.1", timeline)) as restarted:
        await eventually(restarted.decided.is_set, within=2)
        assert restarted.is_leader


async def test_two_live_instances_with_one_name_do_not_take_the_lock_in_turn(
    redis_client: redis.asyncio.Redis,
) -> None:
    """Two processes both called worker.1 (a misconfiguration): the second takes the lock back
    once, at its start, as a restart would; from then on neither takes it from the other, so
    leadership does not flap."""
    timeline: list[tuple[str, str, float]] = []
    # A TTL of 3 s: a renew has 1 s, so a busy machine's slow round trip does not step the
    # holder down (which would count here as taking the lock in turn).
    first = CountedTries(redis_client, KEY, "worker.1", Duty(timeline, "a"), ttl=3.0, retry=0.2)
    second = Leadership(redis_client, KEY, "worker.1", Duty(timeline, "b"), ttl=3.0, retry=0.2)
    async with running(first):
        await eventually(lambda: first.is_leader)
        async with running(second):
            await eventually(lambda: second.is_leader and not first.is_leader, within=3)
            starts = len([e for e in timeline if e[0] == "start"])
            tries = first.tries
            # The one that lost tries again and again (and the other renews meanwhile):
            await eventually(lambda: first.tries >= tries + 6, within=5)
            assert len([e for e in timeline if e[0] == "start"]) == starts
            assert second.is_leader
            assert not first.is_leader


async def test_a_leader_whose_lock_was_taken_stops_leading(
    redis_client: redis.asyncio.Redis,
) -> None:
    timeline: list[tuple[str, str, float]] = []
    async with running(leadership(redis_client, "worker.1", timeline)) as leader:
        await eventually(lambda: leader.is_leader)
        await redis_client.set(KEY, "worker.2:usurper", px=60_000)
        await eventually(lambda: not leader.is_leader, within=3)
        assert leading(timeline) == []


async def test_a_leader_whose_event_loop_stalls_for_a_second_keeps_the_lock(
    redis_client: redis.asyncio.Redis,
) -> None:
    """With the default TTL (2.5 s, renewed every 0.83 s) a one-second stall of the leader's
    event loop (a long parse, a GC pause) ends before the lock can expire: it goes on leading
    and the standby never starts."""
    timeline: list[tuple[str, str, float]] = []
    ttl = Settings.model_fields["leader_lock_ttl_seconds"].default
    first = Leadership(redis_client, KEY, "first", Duty(timeline, "first"), ttl=ttl)
    second = Leadership(redis_client, KEY, "second", Duty(timeline, "second"), ttl=ttl)
    async with running(first):
        await eventually(lambda: first.is_leader)
        async with running(second):
            await eventually(second.decided.is_set)
            for _ in range(3):
                time.sleep(1.0)  # noqa: ASYNC251 - the stall under test
                await asyncio.sleep(0.5)
            assert first.is_leader
            assert not second.is_leader
    assert [name for event, name, _at in timeline if event == "start"] == ["first"]


async def test_a_standby_takes_over_as_soon_as_a_dead_leaders_lock_expires(
    redis_client: redis.asyncio.Redis,
) -> None:
    """A leader that dies without a word (SIGKILL: its lock stays until it expires) is replaced
    within the default TTL and a few milliseconds: the standby tries again just after the
    expiry it read, not on its next round."""
    ttl = Settings.model_fields["leader_lock_ttl_seconds"].default
    await redis_client.set(KEY, "dead:0123456789ab", px=int(ttl * 1000))
    died = time.monotonic()
    timeline: list[tuple[str, str, float]] = []
    standby = Leadership(redis_client, KEY, "standby", Duty(timeline, "standby"), ttl=ttl)
    async with running(standby):
        await eventually(lambda: standby.is_leader, within=ttl + 2)
    took = timeline[0][2] - died
    assert ttl <= took < ttl + 0.3, took
