"""The chat links' keys in Redis, and the writes that add or drop a link, queued on the caller's
transaction (an async or a sync pipeline, after MULTI) with its link events."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.client
from redis.asyncio.client import Pipeline

from bot.store.chats import LinkedChat, decode_chats, encode_chats
from bot.store.counters import LAST_DELIVERY
from bot.store.link_events import LinkEvents, Reason
from bot.store.plans import Command, Plan, Transaction, Writes, transact

# Key names live here and nowhere else; the publisher imports them.
USER_CHATS = "notify:user_chats"  # hash: user id -> the user's chats, oldest first (encode_chats)
CHAT_TO_USER = "notify:chat_user"  # hash: chat id -> user id
CHAT_INFO = "notify:chat_info"  # hash: chat id -> JSON {"at": linked at, "title": ...}
LINKED = "notify:linked"  # sorted set: user id scored by the unix time of the first link

# A blocking or asyncio pipeline, or the writes of a plan (bot.store.plans).
AnyPipeline = Pipeline | redis.client.Pipeline | Writes


def queue_link(
    pipe: AnyPipeline,
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


def queue_add(  # noqa: PLR0917 - the parts of one change, read in one WATCH
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


def unlinked_all(user_id: int, events: LinkEvents, reason: Reason) -> Plan[tuple[LinkedChat, ...]]:
    """Remove every chat of `user_id` in one transaction, each with an `unlinked` event for
    `reason`; the chats removed (none: nothing changed, no event)."""

    def decide(replies: list[Any]) -> tuple[tuple[LinkedChat, ...], Writes]:
        chats = decode_chats(replies[0])
        writes = Writes()
        queue_drop(writes, events, user_id, chats, {chat.chat_id for chat in chats}, reason)
        return chats, writes

    read = Command("hget", (USER_CHATS, str(user_id)))
    return (yield from transact(Transaction((USER_CHATS, CHAT_TO_USER), (read,), decide)))


def queue_drop(  # noqa: PLR0917 - the parts of one change, read in one WATCH
    pipe: AnyPipeline,
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
