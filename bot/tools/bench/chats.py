"""The bench's rows for a user's chats: what a linked user and each further chat cost in Redis,
from INFO's used_memory before and after linking `users` users (the writes a link makes,
bot.store.chat_links.queue_link), next to what the version with one chat per user (schema 1)
stored, with MEMORY USAGE of each key (run first, on the bench's own empty Redis); and the
bot's CPU per send when each notification goes to five chats against one chat each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from bot.store.chat_links import CHAT_INFO, CHAT_TO_USER, LINKED, USER_CHATS, queue_link
from bot.store.chats import LinkedChat
from bot.store.schema import V1_USER_TO_CHAT
from bot.testing import FakeTelegram
from bot.tools.bench.kit import CHAT_BASE, BotProcess

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
    sends: int = 0
    one_chat_ms: float | None = None  # CPU per send: `sends` notifications to users with 1 chat
    five_chats_ms: float | None = None  # ... and sends / 5 notifications to users with 5 chats


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


FIVE_BASE = 3_000_000  # the five-chat users and their chats, apart from link_users'
FIVE = 5


def measure_five_chats(
    telegram: FakeTelegram,
    client: redis.Redis,
    bot: BotProcess,
    channel: str,
    figures: ChatFigures,
    *,
    sends: int,
    users: int,
    bursts: int,
) -> None:
    """The CPU per send of `bot` (limits lifted, listening on `channel`, the emulator's latency
    as the caller set it): `sends` notifications to `users` users with one chat each
    (link_users'), and `sends` / 5 to users with five chats each; alternating bursts, the least
    counting."""
    five_users = max(users // FIVE, 1)
    with client.pipeline(transaction=False) as pipe:
        for user in range(FIVE_BASE + 1, FIVE_BASE + five_users + 1):
            chats: tuple[LinkedChat, ...] = ()
            for n in range(FIVE):
                chat = LinkedChat(FIVE_BASE * 10 + user * FIVE + n)
                queue_link(pipe, user, chats, chat)
                chats = (*chats, chat)
                telegram.add_chat(chat.chat_id)
        pipe.execute()
    figures.sends = sends
    try:
        for _ in range(bursts):
            for five in (False, True):
                cpu = bot.cpu_seconds()
                if five:
                    _burst(
                        telegram, client, channel, sends // FIVE, FIVE_BASE + 1, five_users, FIVE
                    )
                else:
                    _burst(telegram, client, channel, sends, 1, users, 1)
                cpu_ms = 1000 * (bot.cpu_seconds() - cpu) / sends
                if five:
                    figures.five_chats_ms = min(cpu_ms, figures.five_chats_ms or cpu_ms)
                else:
                    figures.one_chat_ms = min(cpu_ms, figures.one_chat_ms or cpu_ms)
    finally:
        _unlink_five(client, five_users)  # the later rows count every linked user


def _unlink_five(client: redis.Redis, users: int) -> None:
    with client.pipeline(transaction=False) as pipe:
        for user in range(FIVE_BASE + 1, FIVE_BASE + users + 1):
            pipe.hdel(USER_CHATS, str(user))
            pipe.zrem(LINKED, str(user))
            for n in range(FIVE):
                chat = str(FIVE_BASE * 10 + user * FIVE + n)
                pipe.hdel(CHAT_TO_USER, chat)
                pipe.hdel(CHAT_INFO, chat)
        pipe.execute()


def _burst(  # noqa: PLR0917 - who gets how many, spelled out
    telegram: FakeTelegram,
    client: redis.Redis,
    channel: str,
    count: int,
    first: int,
    users: int,
    chats: int,
) -> None:
    tag = uuid.uuid4().hex[:6]
    with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            payload = {"user_id": first + n % users, "message": f"chats {tag} {n}"}
            pipe.publish(channel, json.dumps(payload))
        pipe.execute()
    sent = count * chats
    telegram.wait_for_sent(
        lambda m: m.text.startswith(f"chats {tag} "), count=sent, timeout=60 + sent / 5
    )


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
    lines = [
        f"chat registry in Redis, {figures['users']:,} users (used_memory before and after): "
        f"{per_user:.0f} B per linked user with a private chat (the version with one chat per "
        f"user: {old:.0f} B), {per_chat:.0f} B per further chat (a group with a title); "
        f"with both: {sizes}"
    ]
    one, five = figures["one_chat_ms"], figures["five_chats_ms"]
    if isinstance(one, float) and isinstance(five, float):
        lines.append(
            f"five chats per user: {figures['sends']} sends, limits lifted (API latency as "
            f"above): CPU per send {five:.3f} ms to users with five chats each, {one:.3f} ms "
            f"to users with one ({five / one - 1:+.0%})"
        )
    return lines
