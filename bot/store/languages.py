"""The language Telegram last reported for each linked user (`User.language_code`): stored when
they link and refreshed when they write, read before a templated notification's send."""

from __future__ import annotations

from typing import TypeGuard

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.chat_links import CHAT_TO_USER
from bot.store.client import as_text

# hash: web-app user id -> the IETF tag Telegram reported ("de-AT"), as it came
TELEGRAM_LANGUAGE = "notify:telegram_language"
MAX_TAG_CHARS = 35  # RFC 5646's longest practical tag; anything longer is not stored


def queue_language_read(pipe: Pipeline, user_id: int) -> None:
    pipe.hget(TELEGRAM_LANGUAGE, str(user_id))


def language_from(reply: bytes | str | None) -> str | None:
    return None if reply is None else as_text(reply)


class LanguageStore:
    """Remembers users' Telegram languages. `seen` is called for every update from a private
    chat, so it writes only what changed since this process last wrote it."""

    def __init__(self, client: redis.asyncio.Redis, remembered: int = 100_000) -> None:
        self._redis = client
        self._written: dict[int, str] = {}  # chat id -> the tag last stored for its user
        self._remembered = remembered

    async def remember(self, user_id: int, chat_id: int, language_code: str | None) -> None:
        """At a link: `user_id` speaks `language_code` (nothing stored when Telegram gave none)."""
        if not _storable(language_code):
            return
        await self._redis.hset(TELEGRAM_LANGUAGE, str(user_id), language_code)
        self._note(chat_id, language_code)

    async def seen(self, chat_id: int, language_code: str | None) -> None:
        """The user of private chat `chat_id` wrote with `language_code`: stored for the user
        linked to it, if any, when it differs from what was stored last."""
        if not _storable(language_code) or self._written.get(chat_id) == language_code:
            return
        user = await self._redis.hget(CHAT_TO_USER, str(chat_id))
        if user is not None:  # noted only once stored: a chat linked later is looked up again
            await self._redis.hset(TELEGRAM_LANGUAGE, as_text(user), language_code)
            self._note(chat_id, language_code)

    def _note(self, chat_id: int, language_code: str) -> None:
        if len(self._written) >= self._remembered:
            self._written.clear()  # a rare full reset beats an LRU's cost on every update
        self._written[chat_id] = language_code


def _storable(language_code: str | None) -> TypeGuard[str]:
    """Telegram gave one, of a sane length (a client can send anything)."""
    return bool(language_code) and len(language_code or "") <= MAX_TAG_CHARS
