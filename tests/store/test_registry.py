"""The chat registry on fakeredis: a user has chats (at most max_chats), a chat one user, tokens
are single-use and for one kind of chat."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio

from bot.store.chats import LinkedChat
from bot.store.link_tokens import link_token_key
from bot.store.registry import ChatRegistry, Linking

PRIVATE = LinkedChat(9001)
GROUP = LinkedChat(-1001, "group")
TOPIC = LinkedChat(-1001, "group", 7)
CHANNEL = LinkedChat(-1002, "channel")


async def test_a_token_expires_after_its_ttl_and_says_its_kind(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    token = await registry.create_link_token(42, ttl_seconds=600)
    assert await fake_redis.get(link_token_key(token)) == b"42"  # as schema 1 wrote it
    assert 590 <= await fake_redis.ttl(link_token_key(token)) <= 600
    group = await registry.create_link_token(42, ttl_seconds=600, kind="group")
    found = await registry.token(group)
    assert found is not None
    assert (found.user_id, found.kind) == (42, "group")


async def test_redeeming_adds_a_chat_and_uses_up_the_token(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(42, PRIVATE)
    token = await registry.create_link_token(42, ttl_seconds=600, kind="group")

    link = await registry.redeem(token, TOPIC, title="Shop")

    assert (link.status, link.user_id, link.previous_user_id) == (Linking.LINKED, 42, None)
    assert await registry.chats_for(42) == (PRIVATE, TOPIC)
    assert await registry.user_for(-1001) == 42
    assert await registry.counts() == (1, 2)
    (_, group) = await registry.described(await registry.chats_for(42))
    assert group.title == "Shop"
    assert (await registry.redeem(token, TOPIC)).status is Linking.INVALID
    assert not await fake_redis.exists(link_token_key(token))


async def test_unknown_or_malformed_tokens_change_nothing(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    for token in ("never-issued", "", "x" * 65, "../../x", "a b"):
        assert (await registry.redeem(token, PRIVATE)).status is Linking.INVALID
    assert await fake_redis.dbsize() == 0


async def test_refusals_change_nothing_and_keep_the_token(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, max_chats=2)
    await registry.link(42, PRIVATE)
    await registry.link(42, CHANNEL)
    private_token = await registry.create_link_token(42, 60)
    group_token = await registry.create_link_token(42, 60, kind="group")
    before = await fake_redis.hgetall("notify:user_chats")

    assert (await registry.redeem(private_token, GROUP)).status is Linking.WRONG_KIND
    assert (await registry.redeem(group_token, LinkedChat(5))).status is Linking.WRONG_KIND
    assert (await registry.redeem(group_token, GROUP)).status is Linking.LIMIT
    assert (await registry.redeem(private_token, PRIVATE)).status is Linking.ALREADY

    assert await fake_redis.hgetall("notify:user_chats") == before
    assert await registry.token(private_token) is not None
    assert await registry.token(group_token) is not None


async def test_linking_a_group_again_from_a_topic_moves_it_there(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, max_chats=1)
    await registry.link(42, GROUP)
    token = await registry.create_link_token(42, 60, kind="group")
    assert (await registry.redeem(token, TOPIC)).status is Linking.MOVED
    assert await registry.chats_for(42) == (TOPIC,)


async def test_a_chat_linked_to_another_user_is_taken_over_and_reported(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, GROUP)
    await registry.link(1, PRIVATE)
    token = await registry.create_link_token(2, ttl_seconds=60, kind="group")

    link = await registry.redeem(token, GROUP)

    assert (link.status, link.previous_user_id) == (Linking.RELINKED, 1)
    assert await registry.chats_for(1) == (PRIVATE,)  # the other chat stays theirs
    assert await registry.chats_for(2) == (GROUP,)
    entries: Any = await fake_redis.xrange("notification:links")
    events = [json.loads(fields[b"payload"]) for _id, fields in entries]
    assert [(e["type"], e["user_id"], e["reason"], e["chat"], e["chats"]) for e in events[-2:]] == [
        ("unlinked", 1, "relinked", "group", 1),
        ("linked", 2, "start", "group", 1),
    ]


async def test_unlinking_a_chat_keeps_the_users_other_chats(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, PRIVATE)
    await registry.link(1, GROUP)
    await registry.link(2, CHANNEL)

    assert await registry.unlink_chat(GROUP.chat_id, reason="stop") == 1
    assert await registry.unlink_chat(GROUP.chat_id, reason="stop") is None
    assert await registry.chats_for(1) == (PRIVATE,)
    assert await registry.linked_since(1) is not None
    assert await registry.unlink_chat(PRIVATE.chat_id, reason="stop") == 1
    assert await registry.linked_since(1) is None  # no chat left: not a linked user
    assert await registry.unlink_user(2, reason="admin") == (CHANNEL,)
    assert await registry.unlink_user(2, reason="admin") == ()
    assert await registry.counts() == (0, 0)
    assert await fake_redis.hlen("notify:chat_info") == 0


async def test_a_migrated_group_keeps_its_topic_and_title(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, PRIVATE)
    await registry.link(1, LinkedChat(-55, "group", 3), title="Shop")
    assert await registry.move_chat(-55, -1009) == 1
    assert await registry.chats_for(1) == (PRIVATE, LinkedChat(-1009, "group", 3))
    assert await registry.user_for(-55) is None
    (_, moved) = await registry.described(await registry.chats_for(1))
    assert moved.title == "Shop"
    assert await registry.move_chat(-55, -1010) is None


async def test_pages_list_users_with_their_chats(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    for user in range(1, 6):
        await registry.link(user, LinkedChat(100 + user))
    await registry.link(3, CHANNEL, title="Status")
    page = await registry.page(2, 2)
    assert [row.user_id for row in page] == [3, 4]
    assert [info.chat for info in page[0].chats] == [LinkedChat(103), CHANNEL]
    assert page[0].chats[1].title == "Status"
    assert sorted([u async for u in registry.all_users(batch=2)]) == [1, 2, 3, 4, 5]


async def test_a_migration_onto_a_chat_linked_meanwhile_leaves_one_entry(
    fake_redis: redis.asyncio.Redis,
) -> None:
    """The supergroup was linked (for another user, or again for the same one) before the
    old group's link could follow: the old group's entry goes, no chat is listed twice."""
    registry = ChatRegistry(fake_redis)
    await registry.link(1, PRIVATE)
    await registry.link(1, LinkedChat(-55, "group"))
    await registry.link(2, LinkedChat(-1009, "group"))
    assert await registry.move_chat(-55, -1009) == 1
    assert await registry.chats_for(1) == (PRIVATE,)
    assert await registry.chats_for(2) == (LinkedChat(-1009, "group"),)

    await registry.link(3, LinkedChat(-66, "group"))
    await registry.link(3, LinkedChat(-1010, "group"))
    assert await registry.move_chat(-66, -1010) == 3
    assert await registry.chats_for(3) == (LinkedChat(-1010, "group"),)


async def test_a_refused_send_unlinks_the_users_chat_even_without_its_reverse_entry(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(1, PRIVATE)
    await registry.link(1, GROUP)
    await fake_redis.hdel("notify:chat_user", str(GROUP.chat_id))  # lost by a crash, say
    assert await registry.unlink_chat(GROUP.chat_id, reason="removed") is None
    assert await registry.unlink_chat(GROUP.chat_id, reason="removed", user_id=1) == 1
    assert await registry.chats_for(1) == (PRIVATE,)
    assert await registry.unlink_chat(GROUP.chat_id, reason="removed", user_id=1) is None


async def test_a_burnt_token_links_nothing(fake_redis: redis.asyncio.Redis) -> None:
    registry = ChatRegistry(fake_redis)
    token = await registry.create_link_token(1, 60, kind="group")
    await registry.burn(token)
    assert (await registry.redeem(token, GROUP)).status is Linking.INVALID
