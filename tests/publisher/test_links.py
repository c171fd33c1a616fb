"""The deep links and link tokens a web app makes, and the linked chats it reads and unlinks."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

from bot.publisher import AsyncPublisher, Publisher
from bot.store.chats import LinkedChat
from bot.store.link_tokens import BOT_USERNAME, link_token_key
from bot.store.registry import ChatRegistry
from tests.helpers import token_of


async def test_create_link_uses_the_username_the_bot_recorded(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    await redis_client.set(BOT_USERNAME, "shop_bot")
    async_link = await AsyncPublisher(redis_client).create_link(42, ttl=120)
    sync_publisher = Publisher.from_url(redis_url)
    try:
        sync_link = sync_publisher.create_link(43)
    finally:
        sync_publisher.client.close()

    for link, user_id in ((async_link, 42), (sync_link, 43)):
        assert link.startswith("https://t.me/shop_bot?start=")
        assert await redis_client.get(link_token_key(token_of(link))) == str(user_id).encode()
    assert await redis_client.ttl(link_token_key(token_of(async_link))) <= 120


async def test_create_link_without_a_known_username_says_what_to_do(
    redis_client: redis.asyncio.Redis,
) -> None:
    with pytest.raises(LookupError, match="start the bot once"):
        await AsyncPublisher(redis_client).create_link(42)
    assert await redis_client.dbsize() == 0  # no orphan token was stored
    link = await AsyncPublisher(redis_client).create_link(42, bot_username="given_bot")
    assert link.startswith("https://t.me/given_bot?start=")


async def test_is_linked_and_unlink_work_sync_and_async(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    """What a web app uses to show "Telegram connected" and to drop a deleted account's link."""
    registry = ChatRegistry(redis_client)
    await registry.link(42, 9001)
    await registry.link(43, 9002)
    await registry.link(43, LinkedChat(-1001000000043, "channel"))
    async_publisher = AsyncPublisher(redis_client)
    sync_publisher = Publisher.from_url(redis_url)
    try:
        assert await async_publisher.is_linked(42)
        assert sync_publisher.is_linked(43)
        assert sync_publisher.chats(43) == ("private", "channel")
        assert await async_publisher.chats(43) == ("private", "channel")
        assert sync_publisher.unlink(43) is True  # every chat of the user
        assert await registry.user_for(-1001000000043) is None
        assert sync_publisher.unlink(43) is False
        assert await async_publisher.unlink(42) is True
        assert await async_publisher.unlink(42) is False
        assert not await async_publisher.is_linked(42)
        assert not sync_publisher.is_linked(43)
        assert await registry.user_for(9001) is None
        assert await registry.user_for(9002) is None
        assert await registry.linked_count() == 0
    finally:
        sync_publisher.client.close()


async def test_links_for_a_group_and_tokens_for_a_channel_sync_and_async(
    redis_client: redis.asyncio.Redis, redis_url: str
) -> None:
    async_publisher = AsyncPublisher(redis_client)
    sync_publisher = Publisher.from_url(redis_url)
    registry = ChatRegistry(redis_client)
    try:
        for link in (
            sync_publisher.create_link(42, group=True, bot_username="shop_bot"),
            await async_publisher.create_link(42, group=True, bot_username="shop_bot"),
        ):
            assert link.startswith("https://t.me/shop_bot?startgroup=")
            found = await registry.token(token_of(link))
            assert found is not None
            assert (found.user_id, found.kind) == (42, "group")
        for token in (
            sync_publisher.create_link_token(43, kind="channel"),
            await async_publisher.create_link_token(43, kind="channel"),
        ):
            found = await registry.token(token)
            assert found is not None
            assert (found.user_id, found.kind) == (43, "channel")
    finally:
        sync_publisher.client.close()
