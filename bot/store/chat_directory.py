"""Who has which chats, read from the registry: lookups, counts, and pages for the admin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.chat_links import CHAT_INFO, CHAT_TO_USER, LINKED, USER_CHATS
from bot.store.chats import LinkedChat, decode_chats


@dataclass(frozen=True)
class ChatInfo:
    """A linked chat as /whois shows it."""

    chat: LinkedChat
    title: str | None
    linked_at: float


@dataclass(frozen=True)
class LinkedUser:
    """One row of the registry: who, which chats, since when (unix time)."""

    user_id: int
    chats: tuple[ChatInfo, ...]
    linked_at: float


class ChatDirectory:
    """The registry's reads (ChatRegistry adds the changes)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def chats_for(self, user_id: int) -> tuple[LinkedChat, ...]:
        """The chats of `user_id`, oldest link first; () when none."""
        return decode_chats(await self._redis.hget(USER_CHATS, str(user_id)))

    @staticmethod
    def queue_chats_for(pipe: Pipeline, user_id: int) -> None:
        """`chats_for` on a pipeline: read the reply with `decode_chats`."""
        pipe.hget(USER_CHATS, str(user_id))

    async def user_for(self, chat_id: int) -> int | None:
        """The user linked to `chat_id`, or None."""
        value = await self._redis.hget(CHAT_TO_USER, str(chat_id))
        return int(value) if value is not None else None

    async def counts(self) -> tuple[int, int]:
        """How many users have a chat, and how many chats are linked."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hlen(USER_CHATS)
            pipe.hlen(CHAT_TO_USER)
            users, chats = await pipe.execute()
        return int(users), int(chats)

    async def linked_count(self) -> int:
        """How many users have a chat."""
        return int(await self._redis.hlen(USER_CHATS))

    async def linked_since(self, user_id: int) -> float | None:
        """Unix time `user_id` was first linked (of the links still there), or None."""
        score = await self._redis.zscore(LINKED, str(user_id))
        return float(score) if score is not None else None

    async def described(self, chats: tuple[LinkedChat, ...]) -> tuple[ChatInfo, ...]:
        """`chats` with their titles and link times."""
        if not chats:
            return ()
        infos = await self._redis.hmget(CHAT_INFO, [str(chat.chat_id) for chat in chats])
        return tuple(_described(chat, info) for chat, info in zip(chats, infos, strict=True))

    async def page(self, offset: int, count: int) -> list[LinkedUser]:
        """Linked users in the order they linked, `count` from `offset`, with their chats."""
        members: Any = await self._redis.zrange(LINKED, offset, offset + count - 1, withscores=True)
        if not members:
            return []
        user_ids = [int(member) for member, _score in members]
        raws = await self._redis.hmget(USER_CHATS, [str(u) for u in user_ids])
        chats = [decode_chats(raw) for raw in raws]
        # Every chat of the page described in one read, not one per user.
        described = iter(await self.described(tuple(c for mine in chats for c in mine)))
        return [
            LinkedUser(user_id, tuple(next(described) for _ in mine), float(score))
            for user_id, mine, (_member, score) in zip(user_ids, chats, members, strict=True)
            if mine
        ]

    async def all_users(self, batch: int = 500) -> AsyncIterator[int]:
        """Every user with a chat, read in batches so a large registry is not loaded at once."""
        # HSCAN's NOVALUES needs Redis 7.4: the values come along and are dropped.
        async for user, _chats in self._redis.hscan_iter(USER_CHATS, count=batch):
            yield int(user)


def _described(chat: LinkedChat, info: bytes | str | None) -> ChatInfo:
    try:
        data = json.loads(info) if info is not None else {}
    except ValueError:
        data = {}
    title = data.get("title")
    return ChatInfo(chat, str(title) if title else None, float(data.get("at") or 0))
