"""Chat-user commands besides linking (bot/chat/linking.py): /help explains, anything else in a
private chat points to /help. Each reply is in the user's language (bot/chat/i18n.py)."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of, load
from bot.telegram.pacing import ReplyDropped

log = structlog.get_logger(__name__)

HELP = N_(
    "I deliver notifications from your account on our website to this chat.\n\n"
    "/start <code> - link this chat (open the link the website gives you)\n"
    "/stop - stop notifications and unlink this chat\n"
    "/settings - choose what you get, quiet hours, digest and language\n"
    "/quiet 22:00-07:00 - quiet hours (/quiet off ends them)\n"
    "/timezone Europe/Berlin - your time zone\n"
    "/language de - the language I write in\n"
    "/help - show this message"
)
UNKNOWN = N_("I did not understand that. Send /help to see what I can do.")
UNAVAILABLE = N_("Sorry, I cannot do that right now. Please try again in a minute.")


class ChatCommands:
    """The commands any chat user can send. Replies never include ids or internals, and are in
    the language `chosen_language` says the chat's user picked, else Telegram's."""

    def __init__(self, *, chosen_language: ChosenLanguage | None = None) -> None:
        self._chosen_language = chosen_language
        load()  # a broken catalog stops the start, not a reply

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Add the handlers and the error handler to `application`."""
        application.add_handler(CommandHandler("help", self.help))
        # Anything else in a private chat gets a pointer to /help instead of silence.
        application.add_handler(MessageHandler(filters.ChatType.PRIVATE, self.unknown))
        application.add_error_handler(self.on_error)

    async def help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, HELP)

    async def unknown(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, UNKNOWN)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's failure once, and tell the user when Redis is the cause."""
        error = context.error
        if isinstance(error, ReplyDropped):
            # A flood spent the chat's pace: expected, and said once per chat (per_chat.py
            # drops what piles up); one line, no traceback.
            chat = update.effective_chat if isinstance(update, Update) else None
            log.info("reply_dropped", chat_id=chat.id if chat else None, reason=str(error))
            return
        # A Redis outage is expected and logged by the listener too: no traceback for it.
        log.error(
            "handler_failed",
            error=f"{type(error).__name__}: {error}",
            exc_info=None if isinstance(error, RedisError) else error,
        )
        if isinstance(error, RedisError) and isinstance(update, Update):
            await self._reply(update, UNAVAILABLE)

    async def _reply(self, update: Update, message: str) -> None:
        """Answer `update` with `message` (a marked English msgid) in the user's language."""
        if update.effective_message is None:
            return
        language = await language_of(update, self._chosen_language)
        await update.effective_message.reply_text(gettext(language, message))
