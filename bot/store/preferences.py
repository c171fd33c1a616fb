"""Chat users' preferences in Redis, the categories the operator declared (for the web app to
check against), and the digests waiting for their window to end.

A user's preferences are one field of one hash, read in the round trip before each send with
the chat lookup. A digest is a list of lines per user and category; its first line also holds a
flush (`{"op": "digest", ...}`) in the schedule (bot.store.schedule) for the window's end, so a
restart or another instance sends it, once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.preferences import Category, Preferences, stored_preferences
from bot.store.client import as_text
from bot.store.registry import CHAT_TO_USER
from bot.store.schedule import SCHEDULED, SCHEDULED_PAYLOADS

# hash: user id -> Preferences JSON (defaults left out); the dispatcher reads a user's field
# in the round trip before each send, with the chat
PREFERENCES = "notify:prefs"
CATEGORIES = "notify:categories"  # string: what the bot was started with (CATEGORIES, DIGEST)
DIGEST = "notify:digest:{user}:{category}"  # list: the lines waiting, oldest first
# string: lines that came while the list was full, counted for the next flush to say so
DIGEST_DROPPED = "notify:digest-dropped:{user}:{category}"
# Lines a digest keeps: 20,000 flushed as ~1,000 messages at a chat's 1 a second (17 minutes)
# and every flush read them all. At most about 10 messages now (lines are up to 200 characters),
# and per user this times the digest categories.
DIGEST_MAX_LINES = 200
DIGEST_RANK = 1  # a digest goes out as a normal notification

# KEYS: the digest list, the schedule's set and hash. ARGV: the line, the flush's member, its
# due time (ms), its payload. Every line makes sure a flush is scheduled (NX: one already
# scheduled keeps its time), so lines are never left without one (a flush that crashed).
# A full list counts the line in KEYS[4] instead (ARGV[5]: the most lines kept).
_ADD = """
local n = -1
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[5]) then
  n = redis.call('RPUSH', KEYS[1], ARGV[1])
else
  redis.call('INCR', KEYS[4])
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[2])
redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[4])
return n
"""
# After a flush: drop the ARGV[1] lines it sent (0 when it failed: they wait for the next) and
# ARGV[5] from the count of lines not kept (the flush said so); if lines are left (added
# meanwhile, or unsent), make sure the next flush comes at ARGV[3] or earlier (LT: a flush
# asked for early must not leave the rest for the window's end); if none are, drop a flush
# still scheduled (the web app asked for this one early). Same KEYS and ARGV[2..4] as _ADD.
_DONE = """
if tonumber(ARGV[1]) > 0 then redis.call('LTRIM', KEYS[1], ARGV[1], -1) end
if tonumber(ARGV[5]) > 0 and redis.call('DECRBY', KEYS[4], ARGV[5]) <= 0 then
  redis.call('DEL', KEYS[4])
end
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('ZADD', KEYS[2], 'LT', ARGV[3], ARGV[2])
  redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
"""


def preferences_from(reply: bytes | str | None) -> Preferences | None:
    """None when the user has chosen nothing (then only the operator's defaults apply)."""
    return None if reply is None else stored_preferences(reply)


def digest_key(user_id: int, category: str) -> str:
    return DIGEST.format(user=user_id, category=category)


def dropped_key(user_id: int, category: str) -> str:
    return DIGEST_DROPPED.format(user=user_id, category=category)


def flush_payload(user_id: int, category: str) -> str:
    return json.dumps({"op": "digest", "user_id": user_id, "category": category})


def _flush_member(user_id: int, category: str) -> str:
    return f"{DIGEST_RANK}|digest:{user_id}:{category}"


def queue_digest_add(
    pipe: Pipeline, user_id: int, category: str, line: str, flush_at: float
) -> None:
    """Queue adding `line` to the user's digest of `category`, flushed at `flush_at` (Unix
    seconds) unless a flush is scheduled already."""
    pipe.eval(
        _ADD,
        4,
        digest_key(user_id, category),
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        dropped_key(user_id, category),
        line,
        _flush_member(user_id, category),
        round(flush_at * 1000),
        flush_payload(user_id, category),
        DIGEST_MAX_LINES,
    )


def queue_digest_read(pipe: Pipeline, user_id: int, category: str) -> None:
    """Two replies: the lines (at most DIGEST_MAX_LINES), and how many more were not kept."""
    pipe.lrange(digest_key(user_id, category), 0, DIGEST_MAX_LINES - 1)
    pipe.get(dropped_key(user_id, category))


def queue_digest_done(
    pipe: Pipeline,
    user_id: int,
    category: str,
    sent: int,
    next_flush_at: float,
    *,
    dropped_said: int = 0,
) -> None:
    """Queue dropping the `sent` lines a flush delivered (and `dropped_said` from the count of
    lines not kept, which it reported), and the next flush if any are left."""
    pipe.eval(
        _DONE,
        4,
        digest_key(user_id, category),
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        dropped_key(user_id, category),
        sent,
        _flush_member(user_id, category),
        round(next_flush_at * 1000),
        flush_payload(user_id, category),
        dropped_said,
    )


def categories_json(categories: Iterable[Category], digest: Mapping[str, int]) -> str:
    return json.dumps(
        {"categories": [category.to_json() for category in categories], "digest": dict(digest)}
    )


def categories_from(raw: bytes | str | None) -> tuple[tuple[Category, ...], dict[str, int]]:
    """What `categories_json` stored; nothing declared when nothing was stored."""
    if raw is None:
        return (), {}
    data: Any = json.loads(raw)
    categories = tuple(
        Category(item["name"], item["label"], bool(item["mutable"]))
        for item in data.get("categories", [])
    )
    return categories, {str(name): int(window) for name, window in data.get("digest", {}).items()}


class PreferenceStore:
    """Reads and changes users' preferences (the chat's /settings, the bot's wiring)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def get(self, user_id: int) -> Preferences:
        return preferences_from(await self._redis.hget(PREFERENCES, str(user_id))) or Preferences()

    async def update(
        self, user_id: int, change: Callable[[Preferences], Preferences]
    ) -> Preferences:
        """Apply `change` to the stored preferences atomically (WATCH): a tap in the chat and a
        change from the web app at the same moment both take effect."""
        result = Preferences()

        async def apply(pipe: Pipeline) -> None:
            nonlocal result
            current = preferences_from(await pipe.hget(PREFERENCES, str(user_id)))
            result = change(current or Preferences())
            pipe.multi()  # type: ignore[no-untyped-call]
            if result == Preferences():
                pipe.hdel(PREFERENCES, str(user_id))
            else:
                pipe.hset(PREFERENCES, str(user_id), result.stored())

        await self._redis.transaction(apply, PREFERENCES)
        return result

    async def for_chat(self, chat_id: int) -> tuple[int | None, Preferences]:
        """The user linked to `chat_id` (None: nobody) and their preferences."""
        user = await self._redis.hget(CHAT_TO_USER, str(chat_id))
        if user is None:
            return None, Preferences()
        user_id = int(as_text(user))
        return user_id, await self.get(user_id)

    async def language_for_chat(self, chat_id: int) -> str | None:
        """The language the chat's user picked, if any (for replies in the chat)."""
        _, preferences = await self.for_chat(chat_id)
        return preferences.language

    async def declare(self, categories: Iterable[Category], digest: Mapping[str, int]) -> None:
        """Record the categories this bot runs with, for the web app (`Publisher.categories`,
        and `set_preferences`, which checks against them)."""
        await self._redis.set(CATEGORIES, categories_json(categories, digest))
