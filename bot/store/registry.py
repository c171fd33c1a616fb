"""The chat registry's changes: links by token or directly, a group's move to a supergroup,
unlinks. Each is one transaction (WATCH/MULTI) with its link events (bot.store.link_events);
the keys and the writes are in bot.store.chat_links, the reads in bot.store.chat_directory,
the schema's version and its migration in bot.store.schema."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.notification.schema import ChatKind
from bot.store.chat_directory import ChatDirectory
from bot.store.chat_links import (
    CHAT_INFO,
    CHAT_TO_USER,
    USER_CHATS,
    queue_add,
    queue_drop,
    unlinked_all,
)
from bot.store.chats import LinkedChat, decode_chats, encode_chats
from bot.store.link_events import LinkEvents, Reason
from bot.store.link_tokens import (
    BOT_USERNAME,
    TOKEN_SHAPE,
    Token,
    issued_token,
    link_token_key,
    read_token,
)
from bot.store.plans import run_async


def kind_of(chat_type: str) -> ChatKind:
    """The kind of a Telegram chat type: a supergroup is a group."""
    if chat_type == "private":
        return "private"
    return "channel" if chat_type == "channel" else "group"


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


class ChatRegistry(ChatDirectory):
    """Reads (ChatDirectory) and changes which chats each user has. All changes are atomic
    (WATCH/MULTI), each with its link events on `events` (the stream the web app reads) in the
    same MULTI. A chat belongs to one user at a time; a user has at most `max_chats` chats."""

    def __init__(
        self, client: redis.asyncio.Redis, events: LinkEvents | None = None, *, max_chats: int = 5
    ) -> None:
        super().__init__(client)
        self._events = events or LinkEvents()
        self.max_chats = max_chats

    async def create_link_token(
        self, user_id: int, ttl_seconds: int, kind: ChatKind = "private"
    ) -> str:
        """`issued_token`: a fresh single-use token for a chat of `kind` of `user_id`."""
        return await run_async(self._redis, issued_token(user_id, kind, ttl_seconds))

    async def token(self, token: str) -> Token | None:
        """What `token` would link, without using it; None when unknown, expired or used."""
        if not TOKEN_SHAPE.fullmatch(token):
            return None
        return read_token(await self._redis.get(link_token_key(token)))

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
            found = read_token(await pipe.get(key))
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
                queue_drop(pipe, self._events, previous_user, theirs, {chat.chat_id}, "relinked")
            if held is not None:  # the same chat from another topic: it moves there
                chats = tuple(chat if c.chat_id == chat.chat_id else c for c in mine)
                pipe.hset(USER_CHATS, str(user_id), encode_chats(chats))
                result = Link(Linking.MOVED, user_id, kind)
                return
            queue_add(pipe, self._events, user_id, mine, chat, title)
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
                queue_drop(pipe, self._events, previous_user, theirs, {chat.chat_id}, "relinked")
            if any(c.chat_id == chat.chat_id for c in mine):
                chats = tuple(chat if c.chat_id == chat.chat_id else c for c in mine)
                pipe.hset(USER_CHATS, str(user_id), encode_chats(chats))
            else:
                queue_add(pipe, self._events, user_id, mine, chat, title, announce=False)

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
                queue_drop(pipe, events, user_id, mine, {old_chat_id}, "relinked")
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
                queue_drop(pipe, self._events, found, mine, {chat_id}, reason)

        await self._redis.transaction(update, USER_CHATS, CHAT_TO_USER)
        return found

    async def unlink_user(self, user_id: int, *, reason: Reason) -> tuple[LinkedChat, ...]:
        """`unlinked_all`: every chat of `user_id` removed, each with an `unlinked` event for
        `reason`; the chats removed (none: nothing changed, no event)."""
        return await run_async(self._redis, unlinked_all(user_id, self._events, reason))

    async def remember_bot_username(self, username: str) -> None:
        """Record the bot's @username so the publisher can build deep links without the token."""
        await self._redis.set(BOT_USERNAME, username)


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
