"""Chat users' preferences in Redis, and the categories the operator declared (for the web app
to check against). A user's preferences are one field of one hash, read in the round trip
before each send with the chat lookup. (The digests they may ask for: bot.store.digests.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio

from bot.preferences import Category, Preferences, stored_preferences
from bot.store.chat_links import CHAT_TO_USER
from bot.store.client import as_text
from bot.store.plans import Command, Plan, Transaction, Writes, run_async, transact

# hash: user id -> Preferences JSON (defaults left out); the dispatcher reads a user's field
# in the round trip before each send, with the chat
PREFERENCES = "notify:prefs"
CATEGORIES = "notify:categories"  # string: what the bot was started with (CATEGORIES, DIGEST)


def preferences_from(reply: bytes | str | None) -> Preferences | None:
    """None when the user has chosen nothing (then only the operator's defaults apply)."""
    return None if reply is None else stored_preferences(reply)


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
        Category(
            item["name"],
            item["label"],
            bool(item["mutable"]),
            tuple((str(k), str(v)) for k, v in item.get("labels", {}).items()),
        )
        for item in data.get("categories", [])
    )
    return categories, {str(name): int(window) for name, window in data.get("digest", {}).items()}


def changed_preferences(
    user_id: int, change: Callable[[Preferences], Preferences]
) -> Plan[Preferences]:
    """Apply `change` to `user_id`'s stored preferences atomically (WATCH), the result stored
    and returned; `change` may raise to change nothing."""

    def decide(replies: list[Any]) -> tuple[Preferences, Writes]:
        result = change(preferences_from(replies[0]) or Preferences())
        writes = Writes()
        if result == Preferences():  # the defaults: nothing stored
            writes.hdel(PREFERENCES, str(user_id))
        else:
            writes.hset(PREFERENCES, str(user_id), result.stored())
        return result, writes

    read = Command("hget", (PREFERENCES, str(user_id)))
    return (yield from transact(Transaction((PREFERENCES,), (read,), decide)))


class PreferenceStore:
    """Reads and changes users' preferences (the chat's /settings, the bot's wiring)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def get(self, user_id: int) -> Preferences:
        return preferences_from(await self._redis.hget(PREFERENCES, str(user_id))) or Preferences()

    async def update(
        self, user_id: int, change: Callable[[Preferences], Preferences]
    ) -> Preferences:
        """`changed_preferences` (a tap in the chat and a change from the web app at the same
        moment both take effect)."""
        return await run_async(self._redis, changed_preferences(user_id, change))

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
