"""Keeps each linked user's Telegram language current: what their app reports on every update
from their private chat, stored when it changed (a template's language follows it)."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.chat import groups
from bot.store.languages import LanguageStore

log = structlog.get_logger(__name__)


class LanguageRefresh:
    """Stores the language_code of a private chat's user for the web-app user linked to it."""

    def __init__(self, languages: LanguageStore) -> None:
        self._languages = languages

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handler(TypeHandler(Update, self._seen), group=groups.TELEGRAM_LANGUAGE)

    async def _seen(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, user = update.effective_chat, update.effective_user
        # In a group the writer may be anyone: only the private chat's own user counts.
        if chat is None or user is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
            return
        try:
            await self._languages.seen(chat.id, user.language_code)
        except RedisError as exc:  # the next update tries again; the reply matters more
            log.warning("telegram_language_not_stored", chat_id=chat.id, error=str(exc))
