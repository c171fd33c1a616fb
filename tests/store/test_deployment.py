"""Which deployment owns a database: the bot id key, claimed once, refused to another bot."""

from __future__ import annotations

import pytest
import redis.asyncio

from bot.store.deployment import BOT_ID, DatabaseTaken, claim, database_number, read_mark


async def test_the_first_bot_claims_the_database_and_its_restarts_are_welcome(
    redis_client: redis.asyncio.Redis,
) -> None:
    assert await read_mark(redis_client) is None
    await claim(redis_client, "111")
    await claim(redis_client, "111")  # a restart, or a second instance of the deployment
    assert await redis_client.get(BOT_ID) == b"111"
    assert await read_mark(redis_client) == f"111/{database_number(redis_client)}"


async def test_another_bot_is_told_whose_database_it_is_and_what_to_do(
    redis_client: redis.asyncio.Redis,
) -> None:
    await claim(redis_client, "111")
    with pytest.raises(DatabaseTaken) as refused:
        await claim(redis_client, "222")
    assert str(refused.value) == (
        "this database belongs to bot 111 (key notify:bot_id); use another database, "
        "or delete that key to hand it over"
    )
    await redis_client.delete(BOT_ID)  # handed over
    await claim(redis_client, "222")
    assert await redis_client.get(BOT_ID) == b"222"


def test_the_database_number_comes_from_the_url() -> None:
    assert database_number(redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/7")) == 7
    assert database_number(redis.asyncio.Redis.from_url("redis://127.0.0.1:6379")) == 0
    assert database_number(redis.asyncio.Redis.from_url("unix:///tmp/r.sock?db=3")) == 3
