"""The chat registry in Redis: a web-app user's chats (private chats, groups, channels, forum
topics), each chat's user, and single-use link tokens. Every link and unlink adds its link event
in the same transaction (bot.store.link_events). The schema's version and its migration are in
bot.store.schema."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis.asyncio
import redis.client
from redis.asyncio.client import Pipeline

from bot.notification.schema import ChatKind
from bot.store.chats import KINDS, LinkedChat, decode_chats, encode_chats
from bot.store.counters import LAST_DELIVERY
from bot.store.link_events import LinkEvents, Reason
from bot.store.plans import Writes

# Key names live here and nowhere else; the publisher imports them.
USER_CHATS = "notify:user_chats"  # hash: user id -> the user's chats, oldest first (encode_chats)
CHAT_TO_USER = "notify:chat_user"  # hash: chat id -> user id
CHAT_INFO = "notify:chat_info"  # hash: chat id -> JSON {"at": linked at, "title": ...}
LINKED = "notify:linked"  # sorted set: user id scored by the unix time of the first link
LINK_TOKEN_PREFIX = "notify:link:"  # noqa: S105 - a key prefix; string per token -> user id
BOT_USERNAME = "notify:bot_username"  # the bot's @username, written at start-up for the publisher

TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters of A-Za-z0-9_-
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ISSUED_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # what new_link_token makes


def new_link_token() -> str:
    """A random deep-link payload: 256 bits, 43 characters, within Telegram's 64-character rule."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_token_key(token: str) -> str:
    return LINK_TOKEN_PREFIX + token


def token_value(user_id: int, kind: ChatKind) -> str:
    """What a token's key holds: the user id, and the kind of chat it links unless private (a
    plain id is what schema 1 stored: still a private chat's token)."""
    return str(user_id) if kind == "private" else f"{user_id}:{kind}"


def deep_link(bot_username: str, token: str, *, group: bool = False) -> str:
    """https://t.me/<bot>?start=<token>: opening it sends the bot `/start <token>`;
    `?startgroup=` asks which group to add the bot to, then sends the same in that group. Our
    own (python-telegram-bot's helper does the same) so that a web app importing the
    publisher does not need python-telegram-bot; Telegram's rules for the payload are checked
    here too."""
    if len(bot_username) < 4:
        raise ValueError(f"not a bot username: {bot_username!r}")
    if not TOKEN_SHAPE.fullmatch(token):
        raise ValueError("a deep-link payload is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return f"https://t.me/{bot_username}?{'startgroup' if group else 'start'}={token}"


def kind_of(chat_type: str) -> ChatKind:
    """The kind of a Telegram chat type: a supergroup is a group."""
    if chat_type == "private":
        return "private"
    return "channel" if chat_type == "channel" else "group"


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


@dataclass(frozen=True)
class Token:
    """What a link token links: whose chat, and which kind of chat it is for."""

    user_id: int
    kind: ChatKind


class Linking(StrEnum):
    """How a link attempt ended."""

    LINKED = "linked"  # a chat more for the user
    RELINKED = "relinked"  # the chat was another user's: now this user's
    MOVED = "moved"  # the user's chat already: now into the topic it was linked from
    ALREADY = "already"  # the user's chat already, as it is: nothing changed
    INVALID = "invalid"  # unknown, expired or used token: nothing changed
    WRONG_KIND = "wrong_kind"  # a token for another kind of chat: nothing changed
    LIMIT = "limit"  # the user has as many chats as allowed: nothing changed


@dataclass(frozen=True)
class Link:
    """The end of a link attempt: the user (when the token was known), the token's kind and,
    for a chat taken from another user, who that was."""

    status: Linking
    user_id: int | None = None
    kind: ChatKind | None = None
    previous_user_id: int | None = None


class ChatRegistry:
    """Reads and changes which chats each user has. All changes are atomic (WATCH/MULTI),
    each with its link events on `events` (the stream the web app reads) in the same MULTI.
    A chat belongs to one user at a time; a user has at most `max_chats` chats."""

    def __init__(
        self, client: redis.asyncio.Redis, events: LinkEvents | None = None, *, max_chats: int = 5
    ) -> None:
        self._redis = client
        self._events = events or LinkEvents()
        self.max_chats = max_chats

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

    async def create_link_token(
        self, user_id: int, ttl_seconds: int, kind: ChatKind = "private"
    ) -> str:
        """Store a fresh single-use token that links a chat of `kind` to `user_id` and expires
        after `ttl_seconds`."""
        token = new_link_token()
        await self._redis.set(link_token_key(token), token_value(user_id, kind), ex=ttl_seconds)
        return token

    async def token(self, token: str) -> Token | None:
        """What `token` would link, without using it; None when unknown, expired or used."""
        if not TOKEN_SHAPE.fullmatch(token):
            return None
        return _token(await self._redis.get(link_token_key(token)))

    async def burn(self, token: str) -> None:
        """Make `token` unusable (seen by others: a group's members, a channel's readers)."""
        if TOKEN_SHAPE.fullmatch(token):
            await self._redis.delete(link_token_key(token))

    async def redeem(self, token: str, chat: LinkedChat | int, *, title: str | None = None) -> Link:
        """Use `token` to link `chat` to its user, in one transaction with its link events: a
        `linked` event (reason start), after an `unlinked` one (relinked) for a user the chat
        was taken from. Nothing changes, and the token stays usable, when it is for another
        kind of chat or the user has `max_chats` chats already (the link says which); linking
        a chat the user has already changes nothing but its topic."""
        chat = _as_chat(chat)
        if not TOKEN_SHAPE.fullmatch(token):
            return Link(Linking.INVALID)
        key = link_token_key(token)
        result = Link(Linking.INVALID)

        async def consume(pipe: Pipeline) -> None:
            nonlocal result
            found = _token(await pipe.get(key))
            if found is None:
                result = Link(Linking.INVALID)
                return
            user_id, kind = found.user_id, found.kind
            mine = decode_chats(await pipe.hget(USER_CHATS, str(user_id)))
            held = next((c for c in mine if c.chat_id == chat.chat_id), None)
            refused = None
            if kind != chat.kind:
                refused = Linking.WRONG_KIND
            elif held == chat:
                refused = Linking.ALREADY
            elif held is None and len(mine) >= self.max_chats:
                refused = Linking.LIMIT
            if refused is not None:
                result = Link(refused, user_id, kind)
                return
            previous_user, theirs = await _other_owner(pipe, chat, user_id)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(key)
            if previous_user is not None:
                _queue_drop(pipe, self._events, previous_user, theirs, {chat.chat_id}, "relinked")
            if held is not None:  # the same chat from another topic: it moves there
                chats = tuple(chat if c.chat_id == chat.chat_id else c for c in mine)
                pipe.hset(USER_CHATS, str(user_id), encode_chats(chats))
                result = Link(Linking.MOVED, user_id, kind)
                return
            _queue_add(pipe, self._events, user_id, mine, chat, title)
            status = Linking.LINKED if previous_user is None else Linking.RELINKED
            result = Link(status, user_id, kind, previous_user)

        await self._redis.transaction(consume, key, USER_CHATS, CHAT_TO_USER)
        return result

    async def link(self, user_id: int, chat: LinkedChat | int, *, title: str | None = None) -> None:
        """Link `chat` to `user_id` without a token (tests, the bench, the demo): as `redeem`
        would, but past the limit too and with no `linked` event (no user linked it). A bare
        chat id is a private chat, or a group if negative."""
        chat = _as_chat(chat)

        async def update(pipe: Pipeline) -> None:
            mine = decode_chats(await pipe.hget(USER_CHATS, str(user_id)))
            previous_user, theirs = await _other_owner(pipe, chat, user_id)
            pipe.multi()  # type: ignore[no-untyped-call]
            if previous_user is not None:
                _queue_drop(pipe, self._events, previous_user, theirs, {chat.chat_id}, "relinked")
            if any(c.chat_id == chat.chat_id for c in mine):
                chats = tuple(chat if c.chat_id == chat.chat_id else c for c in mine)
                pipe.hset(USER_CHATS, str(user_id), encode_chats(chats))
            else:
                _queue_add(pipe, self._events, user_id, mine, chat, title, announce=False)

        await self._redis.transaction(update, USER_CHATS, CHAT_TO_USER)

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> int | None:
        """A group became a supergroup (a new chat id): its link, topic and title follow it,
        with no link event (nothing changed for the user). Returns the user, or None. A
        supergroup linked meanwhile (after the upgrade, before this) keeps its own link: the
        old group's is dropped, never a second entry for one chat."""
        user_id: int | None = None

        async def update(pipe: Pipeline) -> None:
            nonlocal user_id
            owner = await pipe.hget(CHAT_TO_USER, str(old_chat_id))
            user_id = None if owner is None else int(owner)
            if user_id is None:
                return
            mine = decode_chats(await pipe.hget(USER_CHATS, str(user_id)))
            info = await pipe.hget(CHAT_INFO, str(old_chat_id))
            taken = await pipe.hget(CHAT_TO_USER, str(new_chat_id))
            if taken is not None:  # by another account: this one lost the group to it
                events = None if int(taken) == user_id else self._events
                pipe.multi()  # type: ignore[no-untyped-call]
                _queue_drop(pipe, events, user_id, mine, {old_chat_id}, "relinked")
                return
            chats = tuple(
                c._replace(chat_id=new_chat_id) if c.chat_id == old_chat_id else c for c in mine
            )
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(USER_CHATS, str(user_id), encode_chats(chats))
            pipe.hdel(CHAT_TO_USER, str(old_chat_id))
            pipe.hset(CHAT_TO_USER, str(new_chat_id), str(user_id))
            pipe.hdel(CHAT_INFO, str(old_chat_id))
            if info is not None:
                pipe.hset(CHAT_INFO, str(new_chat_id), info)

        await self._redis.transaction(update, USER_CHATS, CHAT_TO_USER)
        return user_id

    async def unlink_chat(
        self, chat_id: int, *, reason: Reason, user_id: int | None = None
    ) -> int | None:
        """Remove the link of `chat_id` (the user's other chats stay), with an `unlinked` event
        for `reason`; returns the user id it was linked to, or None (nothing changed, no
        event). Read and removed in one transaction: a link changed meanwhile is never
        removed, nor reported, in its place. `user_id`: whose list to look in when the chat's
        own entry is missing (a send to the chat for that user was refused)."""
        found: int | None = None

        async def update(pipe: Pipeline) -> None:
            nonlocal found
            owner = await pipe.hget(CHAT_TO_USER, str(chat_id))
            found = int(owner) if owner is not None else user_id
            mine: tuple[LinkedChat, ...] = ()
            if found is not None:
                mine = decode_chats(await pipe.hget(USER_CHATS, str(found)))
                if owner is None and all(c.chat_id != chat_id for c in mine):
                    found = None  # nobody's: nothing to change
            pipe.multi()  # type: ignore[no-untyped-call]
            if found is not None:
                _queue_drop(pipe, self._events, found, mine, {chat_id}, reason)

        await self._redis.transaction(update, USER_CHATS, CHAT_TO_USER)
        return found

    async def unlink_user(self, user_id: int, *, reason: Reason) -> tuple[LinkedChat, ...]:
        """Remove every chat of `user_id`, each with an `unlinked` event for `reason`; returns
        the chats removed (none: nothing changed, no event)."""
        chats: tuple[LinkedChat, ...] = ()

        async def update(pipe: Pipeline) -> None:
            nonlocal chats
            chats = decode_chats(await pipe.hget(USER_CHATS, str(user_id)))
            pipe.multi()  # type: ignore[no-untyped-call]
            queue_unlink_all(pipe, user_id, chats, events=self._events, reason=reason)

        await self._redis.transaction(update, USER_CHATS, CHAT_TO_USER)
        return chats

    async def remember_bot_username(self, username: str) -> None:
        """Record the bot's @username so the publisher can build deep links without the token."""
        await self._redis.set(BOT_USERNAME, username)


def queue_unlink_all(
    pipe: Pipeline | redis.client.Pipeline | Writes,
    user_id: int,
    chats: tuple[LinkedChat, ...],
    *,
    events: LinkEvents,
    reason: Reason,
) -> None:
    """Queue the removal of all of `user_id`'s `chats` (read in the same WATCH) and an
    `unlinked` event for each (on a sync or an async pipeline, after MULTI)."""
    _queue_drop(pipe, events, user_id, chats, {chat.chat_id for chat in chats}, reason)


def _queue_drop(  # noqa: PLR0917 - the parts of one change, read in one WATCH
    pipe: Pipeline | redis.client.Pipeline | Writes,
    events: LinkEvents | None,
    user_id: int,
    chats: tuple[LinkedChat, ...],
    dropping: set[int],
    reason: Reason,
) -> None:
    """Queue the removal of the chats in `dropping` from `user_id`'s `chats`, with an event
    each (none without `events`); a user left with none loses the per-user state that goes
    with a link. Each dropped chat's entries go even if the list lacked it."""
    kept = tuple(chat for chat in chats if chat.chat_id not in dropping)
    for chat_id in dropping:
        pipe.hdel(CHAT_TO_USER, str(chat_id))
        pipe.hdel(CHAT_INFO, str(chat_id))
    for chat in chats:
        if chat.chat_id in dropping and events is not None:
            events.queue(pipe, "unlinked", user_id, reason, chat=chat.kind, remaining=len(kept))
    if kept:
        pipe.hset(USER_CHATS, str(user_id), encode_chats(kept))
        return
    pipe.hdel(USER_CHATS, str(user_id))
    pipe.zrem(LINKED, str(user_id))
    pipe.hdel(LAST_DELIVERY, str(user_id))


def _queue_add(  # noqa: PLR0917 - the parts of one change, read in one WATCH
    pipe: Pipeline,
    events: LinkEvents,
    user_id: int,
    chats: tuple[LinkedChat, ...],
    chat: LinkedChat,
    title: str | None,
    *,
    announce: bool = True,
) -> None:
    """Queue the writes that add `chat` to `user_id`'s `chats`, and its `linked` event unless
    not `announce`d."""
    queue_link(pipe, user_id, chats, chat, title=title)
    if announce:
        events.queue(pipe, "linked", user_id, "start", chat=chat.kind, remaining=len(chats) + 1)


def queue_link(
    pipe: Pipeline | redis.client.Pipeline,
    user_id: int,
    chats: tuple[LinkedChat, ...],
    chat: LinkedChat,
    *,
    title: str | None = None,
) -> None:
    """Queue the registry's writes that add `chat` after `user_id`'s `chats` (what they have
    now), with no link event: what a link stores, for a loader of many (the bench)."""
    now = int(time.time())
    info: dict[str, object] = {"at": now}
    if title:
        info["title"] = title
    pipe.hset(USER_CHATS, str(user_id), encode_chats((*chats, chat)))
    pipe.hset(CHAT_TO_USER, str(chat.chat_id), str(user_id))
    pipe.hset(
        CHAT_INFO, str(chat.chat_id), json.dumps(info, ensure_ascii=False, separators=(",", ":"))
    )
    pipe.zadd(LINKED, {str(user_id): now}, nx=True)  # since the first link


async def _other_owner(
    pipe: Pipeline, chat: LinkedChat, user_id: int
) -> tuple[int | None, tuple[LinkedChat, ...]]:
    """Who else `chat` is linked to (in the WATCH, before MULTI), and their chats; (None, ())
    when nobody or `user_id` itself."""
    owner = await pipe.hget(CHAT_TO_USER, str(chat.chat_id))
    if owner is None or int(owner) == user_id:
        return None, ()
    return int(owner), decode_chats(await pipe.hget(USER_CHATS, owner))


def _as_chat(chat: LinkedChat | int) -> LinkedChat:
    """A bare chat id (tests, the bench) is a private chat, or a group if negative."""
    if isinstance(chat, int):
        return LinkedChat(chat, "private" if chat > 0 else "group")
    return chat


def _token(raw: bytes | str | None) -> Token | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    user, _, kind = text.partition(":")
    try:
        return Token(int(user), _kind(kind or "private"))
    except (ValueError, KeyError):
        return None


def _kind(name: str) -> ChatKind:
    if name not in KINDS:
        raise KeyError(name)
    return name


def _described(chat: LinkedChat, info: bytes | str | None) -> ChatInfo:
    try:
        data = json.loads(info) if info is not None else {}
    except ValueError:
        data = {}
    title = data.get("title")
    return ChatInfo(chat, str(title) if title else None, float(data.get("at") or 0))
