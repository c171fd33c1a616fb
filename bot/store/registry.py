"""The chat registry in Redis: web-app user id <-> Telegram chat id, and single-use link tokens."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.client
from redis.asyncio.client import Pipeline

from bot.store.counters import LAST_DELIVERY

# Key names live here and nowhere else; the publisher imports them.
USER_TO_CHAT = "notify:user_chat"  # hash: user id -> chat id
CHAT_TO_USER = "notify:chat_user"  # hash: chat id -> user id
LINKED = "notify:linked"  # sorted set: user id scored by the unix time of linking
LINK_TOKEN_PREFIX = "notify:link:"  # noqa: S105 - a key prefix; string per token -> user id
BOT_USERNAME = "notify:bot_username"  # the bot's @username, written at start-up for the publisher

TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters of A-Za-z0-9_-
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_link_token() -> str:
    """A random deep-link payload: 256 bits, 43 characters, within Telegram's 64-character rule."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_token_key(token: str) -> str:
    return LINK_TOKEN_PREFIX + token


def deep_link(bot_username: str, token: str) -> str:
    """https://t.me/<bot>?start=<token>: opening it sends the bot `/start <token>`. Our own
    (python-telegram-bot's helper does the same) so that a web app importing the publisher
    does not need python-telegram-bot; Telegram's rules for the payload are checked here too."""
    if len(bot_username) < 4:
        raise ValueError(f"not a bot username: {bot_username!r}")
    if not TOKEN_SHAPE.fullmatch(token):
        raise ValueError("a deep-link payload is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return f"https://t.me/{bot_username}?start={token}"


@dataclass(frozen=True)
class LinkedUser:
    """One row of the registry: who, which chat, since when (unix time)."""

    user_id: int
    chat_id: int
    linked_at: float


@dataclass(frozen=True)
class Link:
    """A user id linked to a chat, and what the link replaced (so the reply can say so)."""

    user_id: int
    chat_id: int
    previous_user_id: int | None = None


class ChatRegistry:
    """Reads and changes who is linked to which chat. All changes are atomic (WATCH/MULTI)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def chat_for(self, user_id: int) -> int | None:
        """The chat linked to `user_id`, or None."""
        value = await self._redis.hget(USER_TO_CHAT, str(user_id))
        return int(value) if value is not None else None

    @staticmethod
    def queue_chat_for(pipe: Pipeline, user_id: int) -> None:
        """`chat_for` on a pipeline: the reply is the chat id, or None."""
        pipe.hget(USER_TO_CHAT, str(user_id))

    async def user_for(self, chat_id: int) -> int | None:
        """The user linked to `chat_id`, or None."""
        value = await self._redis.hget(CHAT_TO_USER, str(chat_id))
        return int(value) if value is not None else None

    async def linked_count(self) -> int:
        return int(await self._redis.hlen(USER_TO_CHAT))

    async def linked_since(self, user_id: int) -> float | None:
        """Unix time `user_id` was linked, or None."""
        score = await self._redis.zscore(LINKED, str(user_id))
        return float(score) if score is not None else None

    async def page(self, offset: int, count: int) -> list[LinkedUser]:
        """Linked users in the order they linked, `count` from `offset`."""
        members: Any = await self._redis.zrange(LINKED, offset, offset + count - 1, withscores=True)
        if not members:
            return []
        user_ids = [int(member) for member, _score in members]
        chats = await self._redis.hmget(USER_TO_CHAT, [str(u) for u in user_ids])
        return [
            LinkedUser(user_id, int(chat), float(score))
            for user_id, chat, (_member, score) in zip(user_ids, chats, members, strict=True)
            if chat is not None
        ]

    async def all_chats(self, batch: int = 500) -> AsyncIterator[tuple[int, int]]:
        """Every (user id, chat id) pair, read in batches so a large registry is not loaded at
        once."""
        async for user, chat in self._redis.hscan_iter(USER_TO_CHAT, count=batch):
            yield int(user), int(chat)

    async def create_link_token(self, user_id: int, ttl_seconds: int) -> str:
        """Store a fresh single-use token for `user_id` that expires after `ttl_seconds`."""
        token = new_link_token()
        await self._redis.set(link_token_key(token), str(user_id), ex=ttl_seconds)
        return token

    async def redeem(self, token: str, chat_id: int) -> Link | None:
        """Consume `token` and link its user to `chat_id` in one transaction.

        Returns None, changing nothing, when the token is unknown, expired or already used.
        """
        if not TOKEN_SHAPE.fullmatch(token):
            return None
        key = link_token_key(token)
        result: Link | None = None

        async def consume(pipe: Pipeline) -> None:
            nonlocal result
            raw_user = await pipe.get(key)
            if raw_user is None:
                result = None
                return
            user_id = int(raw_user)
            previous_user = await pipe.hget(CHAT_TO_USER, str(chat_id))
            old_chat = await pipe.hget(USER_TO_CHAT, str(user_id))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(key)
            _queue_link(pipe, user_id, chat_id, old_chat, previous_user)
            replaced = int(previous_user) if previous_user is not None else None
            result = Link(user_id, chat_id, replaced if replaced != user_id else None)

        await self._redis.transaction(consume, key, USER_TO_CHAT, CHAT_TO_USER)
        return result

    async def link(self, user_id: int, chat_id: int) -> None:
        """Link `user_id` to `chat_id`, replacing any earlier link of either side."""

        async def update(pipe: Pipeline) -> None:
            previous_user = await pipe.hget(CHAT_TO_USER, str(chat_id))
            old_chat = await pipe.hget(USER_TO_CHAT, str(user_id))
            pipe.multi()  # type: ignore[no-untyped-call]
            _queue_link(pipe, user_id, chat_id, old_chat, previous_user)

        await self._redis.transaction(update, USER_TO_CHAT, CHAT_TO_USER)

    async def unlink_chat(self, chat_id: int) -> int | None:
        """Remove the link of `chat_id`; returns the user id that was linked, or None."""
        unlinked: int | None = None

        async def update(pipe: Pipeline) -> None:
            nonlocal unlinked
            raw_user = await pipe.hget(CHAT_TO_USER, str(chat_id))
            unlinked = int(raw_user) if raw_user is not None else None
            pipe.multi()  # type: ignore[no-untyped-call]
            if unlinked is not None:
                queue_unlink(pipe, unlinked, chat_id)

        await self._redis.transaction(update, USER_TO_CHAT, CHAT_TO_USER)
        return unlinked

    async def unlink_user(self, user_id: int) -> int | None:
        """Remove the link of `user_id`; returns the chat id that was linked, or None."""
        chat_id = await self.chat_for(user_id)
        if chat_id is None:
            return None
        return chat_id if await self.unlink_chat(chat_id) == user_id else None

    async def remember_bot_username(self, username: str) -> None:
        """Record the bot's @username so the publisher can build deep links without the token."""
        await self._redis.set(BOT_USERNAME, username)


def queue_unlink(pipe: Pipeline | redis.client.Pipeline, user_id: int, chat_id: int) -> None:
    """Queue the removal of the link user_id <-> chat_id (on a sync or an async pipeline)."""
    pipe.hdel(CHAT_TO_USER, str(chat_id))
    pipe.hdel(USER_TO_CHAT, str(user_id))
    pipe.zrem(LINKED, str(user_id))
    pipe.hdel(LAST_DELIVERY, str(user_id))  # per-user state goes with the link


def _queue_link(
    pipe: Pipeline,
    user_id: int,
    chat_id: int,
    old_chat: bytes | str | None,
    previous_user: bytes | str | None,
) -> None:
    """Queue the writes of a one-to-one link, dropping stale reverse entries of either side."""
    if old_chat is not None and int(old_chat) != chat_id:
        pipe.hdel(CHAT_TO_USER, old_chat)
    if previous_user is not None and int(previous_user) != user_id:
        pipe.hdel(USER_TO_CHAT, previous_user)
        pipe.zrem(LINKED, previous_user)
        pipe.hdel(LAST_DELIVERY, previous_user)
    pipe.hset(USER_TO_CHAT, str(user_id), str(chat_id))
    pipe.hset(CHAT_TO_USER, str(chat_id), str(user_id))
    pipe.zadd(LINKED, {str(user_id): int(time.time())})
