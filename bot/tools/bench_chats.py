"""The bench's row for the chat registry: what a linked user and each further chat cost in
Redis, from INFO's used_memory before and after linking `users` users (the writes a link makes,
bot.store.registry.queue_link), next to what the version with one chat per user (schema 1)
stored; and MEMORY USAGE of each key. Run first, on the bench's own empty Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from bot.notification import LinkedChat
from bot.store.registry import CHAT_INFO, CHAT_TO_USER, LINKED, USER_CHATS, queue_link
from bot.store.schema import V1_USER_TO_CHAT
from bot.tools.benchkit import CHAT_BASE

CHUNK = 10_000
GROUP_BASE = -1_001_000_000_000  # a supergroup's id: -100 and its number
KEYS = (USER_CHATS, CHAT_TO_USER, CHAT_INFO, LINKED)


@dataclass
class ChatFigures:
    users: int = 0
    schema_1_per_user: float | None = None  # bytes: the one-chat registry of the version before
    per_user: float | None = None  # bytes: a user with a private chat
    per_chat: float | None = None  # bytes: a further chat (a group with a title)
    keys: dict[str, int] = field(default_factory=dict)  # MEMORY USAGE with both chats


def measure_chats(client: redis.Redis, *, users: int) -> ChatFigures:
    """Link `users` users to a private chat each, then a group each, and say what each step
    took; the registry's keys are deleted again after."""
    figures = ChatFigures(users=users)
    client.delete(*KEYS, V1_USER_TO_CHAT)
    try:
        before = _used(client)
        _in_chunks(client, users, _schema_1)
        figures.schema_1_per_user = (_used(client) - before) / users
        client.delete(*KEYS, V1_USER_TO_CHAT)

        before = _used(client)
        _in_chunks(client, users, _private)
        private = _used(client)
        figures.per_user = (private - before) / users
        _in_chunks(client, users, _group)
        figures.per_chat = (_used(client) - private) / users
        for key in KEYS:
            figures.keys[key] = int(client.memory_usage(key, samples=0) or 0)
    finally:
        client.delete(*KEYS, V1_USER_TO_CHAT)
    return figures


def _schema_1(pipe: redis.client.Pipeline, user: int) -> None:
    """What the version before stored for a link: its one chat both ways, and since when."""
    pipe.hset(V1_USER_TO_CHAT, str(user), str(CHAT_BASE + user))
    pipe.hset(CHAT_TO_USER, str(CHAT_BASE + user), str(user))
    pipe.zadd(LINKED, {str(user): 1_700_000_000})


def _private(pipe: redis.client.Pipeline, user: int) -> None:
    queue_link(pipe, user, (), LinkedChat(CHAT_BASE + user))


def _group(pipe: redis.client.Pipeline, user: int) -> None:
    group = LinkedChat(GROUP_BASE - user, "group")
    queue_link(pipe, user, (LinkedChat(CHAT_BASE + user),), group, title=f"Shop {user}")


def _in_chunks(
    client: redis.Redis, users: int, write: Callable[[redis.client.Pipeline, int], None]
) -> None:
    for start in range(1, users + 1, CHUNK):
        with client.pipeline(transaction=False) as pipe:
            for user in range(start, min(start + CHUNK, users + 1)):
                write(pipe, user)
            pipe.execute()


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def chat_lines(figures: dict[str, object]) -> list[str]:
    per_user, per_chat, old = figures["per_user"], figures["per_chat"], figures["schema_1_per_user"]
    if not isinstance(per_user, float) or not isinstance(per_chat, float):
        return []
    keys = figures["keys"]
    assert isinstance(keys, dict)  # noqa: S101
    sizes = ", ".join(f"{key} {size / 1e6:.1f} MB" for key, size in keys.items())
    return [
        f"chat registry in Redis, {figures['users']:,} users (used_memory before and after): "
        f"{per_user:.0f} B per linked user with a private chat (the version with one chat per "
        f"user: {old:.0f} B), {per_chat:.0f} B per further chat (a group with a title); "
        f"with both: {sizes}"
    ]
