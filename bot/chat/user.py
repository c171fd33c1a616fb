"""Chat-user commands: /start <token> links a chat, /stop unlinks it, /help explains."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.store.registry import ChatRegistry

log = structlog.get_logger(__name__)

HELP = (
    "I deliver notifications from your account on our website to this chat.\n\n"
    "/start <code> - link this chat (open the link the website gives you)\n"
    "/stop - stop notifications and unlink this chat\n"
    "/help - show this message"
)
HOW_TO_LINK = (
    "Hi! To get notifications here, open the Telegram link shown on the website "
    "while logged in to your account. It opens this chat and links it."
)
LINKED = "Done: this chat is now linked, and notifications will arrive here. Send /stop to unlink."
RELINKED = (
    "Done: this chat is now linked to the account that opened the link "
    "(it was linked to another account before). Send /stop to unlink."
)
BAD_LINK = (
    "This link is invalid, expired or already used. "
    "Get a new one from the website and open it again."
)
UNLINKED = "This chat is unlinked: you will get no more notifications here. Link again any time."
NOT_LINKED = "This chat is not linked to any account."
UNKNOWN = "I only understand /start, /stop and /help."
UNAVAILABLE = "Sorry, I cannot do that right now. Please try again in a minute."


class ChatCommands:
    """The commands any chat user can send. Replies never include ids or internals."""

    def __init__(self, registry: ChatRegistry) -> None:
        self._registry = registry

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Add the handlers and the error handler to `application`."""
        application.add_handler(CommandHandler("start", self.start))
        application.add_handler(CommandHandler("stop", self.stop))
        application.add_handler(CommandHandler("help", self.help))
        # Anything else in a private chat gets a pointer to /help instead of silence.
        application.add_handler(MessageHandler(filters.ChatType.PRIVATE, self.unknown))
        application.add_error_handler(self.on_error)

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        if not context.args:
            await message.reply_text(HOW_TO_LINK)
            return
        link = await self._registry.redeem(context.args[0], chat.id)
        if link is None:
            log.info("link_rejected", chat_id=chat.id, reason="invalid, expired or used token")
            await message.reply_text(BAD_LINK)
            return
        log.info(
            "chat_linked",
            user_id=link.user_id,
            chat_id=chat.id,
            replaced_user_id=link.previous_user_id,
        )
        await message.reply_text(LINKED if link.previous_user_id is None else RELINKED)

    async def stop(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        user_id = await self._registry.unlink_chat(chat.id)
        if user_id is None:
            await message.reply_text(NOT_LINKED)
            return
        log.info("chat_unlinked", user_id=user_id, chat_id=chat.id, reason="/stop")
        await message.reply_text(UNLINKED)

    async def help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(HELP)

    async def unknown(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(UNKNOWN)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's failure once, and tell the user when Redis is the cause."""
        error = context.error
        # A Redis outage is expected and logged by the listener too: no traceback for it.
        log.error(
            "handler_failed",
            error=f"{type(error).__name__}: {error}",
            exc_info=None if isinstance(error, RedisError) else error,
        )
        message = update.effective_message if isinstance(update, Update) else None
        if isinstance(error, RedisError) and message is not None:
            await message.reply_text(UNAVAILABLE)
