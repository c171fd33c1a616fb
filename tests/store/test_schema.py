"""The registry's schema on real Redis (the migration is Lua): schema-1 links (one chat per user)
become schema 2 on start, once, however many instances start at once; and back with roll_back."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from bot.store import schema
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry

USERS = 3000


async def _schema_1(client: redis.asyncio.Redis, users: int) -> None:
    """What the version before several chats left in Redis: private chats and two groups."""
    async with client.pipeline(transaction=False) as pipe:
        for user in range(1, users + 1):
            chat = -(10**12) - user if user % 1000 == 0 else 10**6 + user
            pipe.hset(schema.V1_USER_TO_CHAT, str(user), str(chat))
            pipe.hset("notify:chat_user", str(chat), str(user))
            pipe.zadd("notify:linked", {str(user): 1_700_000_000 + user})
        await pipe.execute()


async def test_three_instances_starting_at_once_migrate_each_link_once(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await _schema_1(redis_client, USERS)
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(schema.migrate(c, batch=200) for c in clients))
    finally:
        for client in clients:
            await client.aclose()

    assert sum(r.moved for r in results) == USERS  # each link moved by one instance
    assert {r.before for r in results} <= {1, 2}
    assert await schema.version(redis_client) == schema.VERSION
    assert not await redis_client.exists(schema.V1_USER_TO_CHAT)
    registry = ChatRegistry(redis_client)
    assert await registry.counts() == (USERS, USERS)
    assert await registry.chats_for(7) == (LinkedChat(10**6 + 7),)
    assert await registry.chats_for(2000) == (LinkedChat(-(10**12) - 2000, "group"),)
    (info,) = await registry.described(await registry.chats_for(7))
    assert info.linked_at == 1_700_000_007
    # Started again: nothing to do.
    assert (await schema.migrate(redis_client)).moved == 0


async def test_an_empty_redis_starts_at_the_current_version(
    redis_client: redis.asyncio.Redis,
) -> None:
    assert await schema.migrate(redis_client) == schema.Migrated(1, 0)
    assert await schema.version(redis_client) == schema.VERSION


async def test_data_of_a_newer_version_stops_the_start(redis_client: redis.asyncio.Redis) -> None:
    await redis_client.set(schema.SCHEMA, "3")
    with pytest.raises(schema.SchemaTooNew, match="schema 3"):
        await schema.migrate(redis_client)


async def test_rolling_back_keeps_each_users_oldest_chat(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await _schema_1(redis_client, 10)
    await schema.migrate(redis_client)
    registry = ChatRegistry(redis_client)
    await registry.link(3, LinkedChat(-77, "group"))

    sync = redis.Redis.from_url(redis_url)
    try:
        kept, dropped = schema.roll_back(sync)
    finally:
        sync.close()

    assert (kept, dropped) == (10, 1)
    assert await redis_client.hget(schema.V1_USER_TO_CHAT, "3") == str(10**6 + 3).encode()
    assert await redis_client.hget("notify:chat_user", "-77") is None
    assert not await redis_client.exists(schema.SCHEMA)
    # The version before reads exactly what it wrote; a start of this one migrates it again.
    await schema.migrate(redis_client)
    assert await registry.chats_for(3) == (LinkedChat(10**6 + 3),)


async def test_links_an_old_instance_wrote_after_the_upgrade_move_at_the_next_start(
    redis_client: redis.asyncio.Redis,
) -> None:
    await schema.migrate(redis_client)
    await _schema_1(redis_client, 3)  # an instance of the version before, still running
    await redis_client.hset(schema.V1_USER_TO_CHAT, "4", "not a chat")  # written by hand
    assert (await schema.migrate(redis_client)).moved == 3
    assert not await redis_client.exists(schema.V1_USER_TO_CHAT)
    assert await ChatRegistry(redis_client).counts() == (3, 3)


async def test_rolling_back_is_refused_while_a_bot_runs_and_drops_tokens_it_cannot_read(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    registry = ChatRegistry(redis_client)
    await registry.link(1, LinkedChat(101))
    private = await registry.create_link_token(1, 60)
    group = await registry.create_link_token(1, 60, kind="group")
    await redis_client.set("notify:leader:123", "worker-1", ex=5)
    sync = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(schema.BotsRunning, match="stop every bot first"):
            schema.roll_back(sync)
        await redis_client.delete("notify:leader:123")
        assert schema.roll_back(sync) == (1, 0)
    finally:
        sync.close()
    assert await registry.token(private) is not None  # "1": the version before reads it
    assert await registry.token(group) is None
