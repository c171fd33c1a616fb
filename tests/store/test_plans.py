"""One plan, two drivers: the same operation on a blocking and an asyncio client, a transaction
that starts again when a watched key changes, and a command's error raised in the plan."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
from redis.exceptions import ResponseError

from bot.store.plans import Command, Plan, Transaction, Writes, run, run_async, transact


def _count_up(key: str, changed_meanwhile: list[redis.Redis]) -> Plan[int]:
    """Read a counter under WATCH, write it plus one; on the first try someone else writes it
    between the read and EXEC (through `changed_meanwhile`), so the driver must try again."""

    def decide(replies: list[Any]) -> tuple[int, Writes]:
        if changed_meanwhile:
            changed_meanwhile.pop().incr(key, 10)
        value = int(replies[0] or 0) + 1
        writes = Writes()
        writes.set(key, value)
        return value, writes

    return (yield from transact(Transaction((key,), (Command("get", (key,)),), decide)))


def _tolerant(key: str) -> Plan[str]:
    try:
        yield Command("hget", (key, "field"))  # a string key: WRONGTYPE
    except ResponseError as exc:
        return str(exc).split()[0]
    return "no error"


def test_the_blocking_driver_retries_a_transaction_and_hands_errors_to_the_plan(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    other = redis.Redis.from_url(redis_url)
    assert run(client, _count_up("counter", [other])) == 11  # 10 from the other, then +1
    assert int(client.get("counter") or 0) == 11
    assert run(client, _tolerant("counter")) == "WRONGTYPE"
    client.close()
    other.close()


async def test_the_asyncio_driver_does_the_same(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    other = redis.Redis.from_url(redis_url)
    assert await run_async(redis_client, _count_up("counter", [other])) == 11
    assert int(await redis_client.get("counter") or 0) == 11
    assert await run_async(redis_client, _tolerant("counter")) == "WRONGTYPE"
    other.close()
