"""The chat registry on fakeredis: links are one-to-one and tokens are single-use."""

from __future__ import annotations

import re

import redis.asyncio

from bot.store.registry import ChatRegistry, link_token_key, new_link_token


def test_link_tokens_are_long_random_and_deep_link_safe() -> None:
    tokens = {new_link_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        # 43 characters of a 64-letter alphabet: 256 bits, within Telegram's 64-character limit.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


async def test_a_token_expires_after_its_ttl(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    token = await registry.create_link_token(42, ttl_seconds=600)
    assert await fake_redis.get(link_token_key(token)) == b"42"
    assert 590 <= await fake_redis.ttl(link_token_key(token)) <= 600


async def test_redeeming_links_both_ways_and_uses_up_the_token(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    token = await registry.create_link_token(42, ttl_seconds=600)

    link = await registry.redeem(token, chat_id=9001)

    assert link is not None
    assert (link.user_id, link.chat_id, link.previous_user_id) == (42, 9001, None)
    assert await registry.chat_for(42) == 9001
    assert await registry.user_for(9001) == 42
    assert await registry.linked_count() == 1
    assert await registry.redeem(token, chat_id=9001) is None
    assert not await fake_redis.exists(link_token_key(token))


async def test_unknown_or_malformed_tokens_change_nothing(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    for token in ("never-issued", "", "x" * 65, "../../x", "a b"):
        assert await registry.redeem(token, chat_id=1) is None
    assert await registry.linked_count() == 0
    assert await fake_redis.dbsize() == 0


async def test_linking_a_user_from_a_new_chat_moves_the_link(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(42, 1000)
    await registry.link(42, 2000)
    assert await registry.chat_for(42) == 2000
    assert await registry.user_for(1000) is None
    assert await registry.linked_count() == 1


async def test_a_chat_linked_to_another_user_is_taken_over_and_reported(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, 9001)
    token = await registry.create_link_token(2, ttl_seconds=60)

    link = await registry.redeem(token, chat_id=9001)

    assert link is not None
    assert link.previous_user_id == 1
    assert await registry.chat_for(1) is None
    assert await registry.chat_for(2) == 9001


async def test_relinking_the_same_pair_reports_no_previous_user(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, 9001)
    link = await registry.redeem(await registry.create_link_token(1, 60), chat_id=9001)
    assert link is not None
    assert link.previous_user_id is None


async def test_unlinking_by_chat_or_by_user(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, 100)
    await registry.link(2, 200)

    assert await registry.unlink_chat(100, reason="stop") == 1
    assert await registry.unlink_chat(100, reason="stop") is None
    assert await registry.unlink_user(2, reason="admin") == 200
    assert await registry.unlink_user(2, reason="admin") is None
    assert await registry.linked_count() == 0
    assert await registry.user_for(200) is None
