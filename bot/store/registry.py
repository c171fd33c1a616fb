"""The chat registry in Redis: web-app user id <-> Telegram chat id, and single-use link tokens.
Every link and unlink adds its link event in the same transaction (bot.store.link_events)."""

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
from bot.store.link_events import LinkEvents, Reason

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
    """Reads and changes who is linked to which chat. All changes are atomic (WATCH/MULTI),
    each with its link events on `events` (the stream the web app reads) in the same MULTI."""

    def __init__(self, client: redis.asyncio.Redis, events: LinkEvents | None = None) -> None:
        self._redis = client
        self._events = events or LinkEvents()

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
        """Consume `token` and link its user to `chat_id` in one transaction: a `linked` event
        (reason start), after an `unlinked` one (relinked) for a user the chat was linked to.

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
            replaced = _queue_link(
                pipe, self._events, user_id, chat_id, old_chat=old_chat, previous_user=previous_user
            )
            # Linked already, to this chat or another, or not: the link the web app offered
            # was used, and the user is linked now.
            self._events.queue(pipe, "linked", user_id, "start")
            result = Link(user_id, chat_id, replaced)

        await self._redis.transaction(consume, key, USER_TO_CHAT, CHAT_TO_USER)
        return result

    async def link(self, user_id: int, chat_id: int) -> None:
        """Link `user_id` to `chat_id` without a deep link, replacing any earlier link of
        either side: a group's link following it to its supergroup (and tests). That move is
        no link event; a user the chat was linked to before loses it (`unlinked`, relinked)."""

        async def update(pipe: Pipeline) -> None:
            previous_user = await pipe.hget(CHAT_TO_USER, str(chat_id))
            old_chat = await pipe.hget(USER_TO_CHAT, str(user_id))
            pipe.multi()  # type: ignore[no-untyped-call]
            _queue_link(
                pipe, self._events, user_id, chat_id, old_chat=old_chat, previous_user=previous_user
            )

        await self._redis.transaction(update, USER_TO_CHAT, CHAT_TO_USER)

    async def unlink_chat(self, chat_id: int, *, reason: Reason) -> int | None:
        """Remove the link of `chat_id`, with an `unlinked` event for `reason`; returns the
        user id that was linked, or None (nothing changed, no event)."""
        return await self._unlink(CHAT_TO_USER, chat_id, reason)

    async def unlink_user(self, user_id: int, *, reason: Reason) -> int | None:
        """Remove the link of `user_id`, with an `unlinked` event for `reason`; returns the
        chat id that was linked, or None (nothing changed, no event)."""
        return await self._unlink(USER_TO_CHAT, user_id, reason)

    async def _unlink(self, side: str, key: int, reason: Reason) -> int | None:
        """Remove the link found under `key` in `side` (CHAT_TO_USER or USER_TO_CHAT); returns
        the other end's id. Read and removed in one transaction: a link changed meanwhile
        is never removed, nor reported, in its place."""
        other: int | None = None

        async def update(pipe: Pipeline) -> None:
            nonlocal other
            raw = await pipe.hget(side, str(key))
            other = int(raw) if raw is not None else None
            pipe.multi()  # type: ignore[no-untyped-call]
            if other is not None:
                user_id, chat_id = (other, key) if side == CHAT_TO_USER else (key, other)
                queue_unlink(pipe, user_id, chat_id, events=self._events, reason=reason)

        await self._redis.transaction(update, USER_TO_CHAT, CHAT_TO_USER)
        return other

    async def remember_bot_username(self, username: str) -> None:
        """Record the bot's @username so the publisher can build deep links without the token."""
        await self._redis.set(BOT_USERNAME, username)


def queue_unlink(
    pipe: Pipeline | redis.client.Pipeline,
    user_id: int,
    chat_id: int,
    *,
    events: LinkEvents,
    reason: Reason,
) -> None:
    """Queue the removal of the link user_id <-> chat_id and its `unlinked` event (on a sync
    or an async pipeline, after MULTI)."""
    pipe.hdel(CHAT_TO_USER, str(chat_id))
    pipe.hdel(USER_TO_CHAT, str(user_id))
    pipe.zrem(LINKED, str(user_id))
    pipe.hdel(LAST_DELIVERY, str(user_id))  # per-user state goes with the link
    events.queue(pipe, "unlinked", user_id, reason)


def _queue_link(
    pipe: Pipeline,
    events: LinkEvents,
    user_id: int,
    chat_id: int,
    *,
    old_chat: bytes | str | None,
    previous_user: bytes | str | None,
) -> int | None:
    """Queue the writes of a one-to-one link, dropping stale reverse entries of either side;
    returns the user who lost the chat to `user_id`, if any: unlinked, with the event (reason
    relinked). The user's own old chat just loses its link: the user stays linked."""
    if old_chat is not None and int(old_chat) != chat_id:
        pipe.hdel(CHAT_TO_USER, old_chat)
    replaced = int(previous_user) if previous_user is not None else None
    if replaced == user_id:
        replaced = None
    if replaced is not None:
        queue_unlink(pipe, replaced, chat_id, events=events, reason="relinked")
    pipe.hset(USER_TO_CHAT, str(user_id), str(chat_id))
    pipe.hset(CHAT_TO_USER, str(chat_id), str(user_id))
    pipe.zadd(LINKED, {str(user_id): int(time.time())})
    return replaced
