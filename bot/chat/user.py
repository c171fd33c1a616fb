"""Chat-user commands: /start <token> links a chat, /stop unlinks it, /help explains. Each reply
is in the user's language (bot/chat/i18n.py)."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of, load
from bot.store.registry import ChatRegistry

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
HOW_TO_LINK = N_(
    "Hi! To get notifications here, open the Telegram link shown on the website "
    "while logged in to your account. It opens this chat and links it."
)
LINKED = N_(
    "Done: this chat is now linked, and notifications will arrive here. Send /stop to unlink."
)
RELINKED = N_(
    "Done: this chat is now linked to the account that opened the link "
    "(it was linked to another account before). Send /stop to unlink."
)
BAD_LINK = N_(
    "This link is invalid, expired or already used. "
    "Get a new one from the website and open it again."
)
UNLINKED = N_(
    "This chat is unlinked: you will get no more notifications here. Link again any time."
)
NOT_LINKED = N_("This chat is not linked to any account.")
UNKNOWN = N_("I did not understand that. Send /help to see what I can do.")
UNAVAILABLE = N_("Sorry, I cannot do that right now. Please try again in a minute.")


class ChatCommands:
    """The commands any chat user can send. Replies never include ids or internals, and are in
    the language `chosen_language` says the chat's user picked, else Telegram's."""

    def __init__(
        self, registry: ChatRegistry, *, chosen_language: ChosenLanguage | None = None
    ) -> None:
        self._registry = registry
        self._chosen_language = chosen_language
        load()  # a broken catalog stops the start, not a reply

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Add the handlers and the error handler to `application`."""
        application.add_handler(CommandHandler("start", self.start))
        application.add_handler(CommandHandler("stop", self.stop))
        application.add_handler(CommandHandler("help", self.help))
        # Anything else in a private chat gets a pointer to /help instead of silence.
        application.add_handler(MessageHandler(filters.ChatType.PRIVATE, self.unknown))
        application.add_error_handler(self.on_error)

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if update.effective_message is None or chat is None:
            return
        if not context.args:
            await self._reply(update, HOW_TO_LINK)
            return
        link = await self._registry.redeem(context.args[0], chat.id)
        if link is None:
            log.info("link_rejected", chat_id=chat.id, reason="invalid, expired or used token")
            await self._reply(update, BAD_LINK)
            return
        log.info(
            "chat_linked",
            user_id=link.user_id,
            chat_id=chat.id,
            replaced_user_id=link.previous_user_id,
            reason="start",
        )
        await self._reply(update, LINKED if link.previous_user_id is None else RELINKED)

    async def stop(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if update.effective_message is None or chat is None:
            return
        user_id = await self._registry.unlink_chat(chat.id, reason="stop")
        if user_id is None:
            await self._reply(update, NOT_LINKED)
            return
        log.info("chat_unlinked", user_id=user_id, chat_id=chat.id, reason="stop")
        await self._reply(update, UNLINKED)

    async def help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, HELP)

    async def unknown(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, UNKNOWN)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's failure once, and tell the user when Redis is the cause."""
        error = context.error
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
