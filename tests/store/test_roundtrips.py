"""Shared round trips: callers at about the same time share one pipeline, each gets its own
replies or its own error, and nobody waits when Redis fails."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError

from bot.store.roundtrips import RoundTrips
from tests.helpers import CountedTrips


async def test_callers_at_the_same_time_share_one_trip_and_get_their_own_replies(
    fake_redis: redis.asyncio.Redis,
) -> None:
    trips = CountedTrips(fake_redis)

    def incr(key: str, by: int) -> Any:
        return lambda pipe: pipe.incrby(key, by)

    replies = await asyncio.gather(*(trips.run(incr(f"k{n}", n)) for n in range(1, 51)))
    assert replies == [[n] for n in range(1, 51)]
    assert trips.count == 1


async def test_callers_during_a_trip_go_together_in_the_next(
    fake_redis: redis.asyncio.Redis,
) -> None:
    trips = CountedTrips(fake_redis)
    first = asyncio.create_task(trips.run(lambda pipe: pipe.set("a", 1)))
    await asyncio.sleep(0)  # the first trip is on its way
    later = [trips.run(lambda pipe: pipe.incr("b")) for _ in range(10)]
    await asyncio.gather(first, *later)
    assert trips.count == 2
    assert await fake_redis.get("b") == b"10"


async def test_one_callers_error_is_its_own(fake_redis: redis.asyncio.Redis) -> None:
    await fake_redis.hset("hash", "f", "v")
    trips = RoundTrips(fake_redis)

    def both(pipe: Pipeline) -> None:
        pipe.set("fine", 1)
        pipe.incr("hash")  # WRONGTYPE: a hash is no counter

    results: list[Any] = await asyncio.gather(
        trips.run(both), trips.run(lambda pipe: pipe.incr("c")), return_exceptions=True
    )
    wrong, right = results
    assert isinstance(wrong, ResponseError)
    assert right == [1]


async def test_a_connection_error_reaches_every_caller_and_the_next_trip_works() -> None:
    down = redis.asyncio.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens there
    trips = RoundTrips(down)
    results = await asyncio.gather(
        *(trips.run(lambda pipe: pipe.get("x")) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, RedisConnectionError) for result in results)
    await down.aclose()


async def test_a_cancelled_caller_does_not_stop_the_others(
    fake_redis: redis.asyncio.Redis,
) -> None:
    trips = RoundTrips(fake_redis)
    gone = asyncio.create_task(trips.run(lambda pipe: pipe.incr("n")))
    stays = asyncio.create_task(trips.run(lambda pipe: pipe.incr("n")))
    await asyncio.sleep(0)
    gone.cancel()
    # The cancelled caller's command was queued before it left: it runs, only unanswered.
    assert await stays == [2]
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await trips.run(lambda pipe: pipe.get("n")) == [b"2"]


async def test_an_argument_redis_cannot_encode_fails_only_its_caller(
    fake_redis: redis.asyncio.Redis,
) -> None:
    trips = RoundTrips(fake_redis)
    bad_value: Any = {"not": "encodable"}
    results: list[Any] = await asyncio.gather(
        trips.run(lambda pipe: pipe.set("good", 1)),
        trips.run(lambda pipe: pipe.set("bad", bad_value)),
        return_exceptions=True,
    )
    assert results[0] == [True]
    assert isinstance(results[1], DataError)
    assert await fake_redis.get("good") == b"1"


async def test_a_cancelled_caller_whose_commands_fail_leaves_the_others_answered(
    fake_redis: redis.asyncio.Redis,
) -> None:
    trips = RoundTrips(fake_redis)

    def broken(_pipe: Pipeline) -> None:
        raise RuntimeError("a bug")

    gone = asyncio.create_task(trips.run(broken))
    other = asyncio.create_task(trips.run(lambda pipe: pipe.incr("n")))
    await asyncio.sleep(0)
    gone.cancel()
    async with asyncio.timeout(5):
        assert await other == [1]
