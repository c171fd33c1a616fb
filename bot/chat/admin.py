"""Admin commands, all behind one authorisation filter: the sender's user id is in ADMIN_IDS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio
import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.chat.admin_delivery import DeliveryCommands
from bot.chat.admin_sending import SendingCommands
from bot.chat.admin_status import StatusCommands
from bot.chat.admin_users import UserCommands
from bot.chat.arguments import Usage
from bot.chat.broadcast import Broadcaster
from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of
from bot.cluster.leader import Leadership
from bot.config.logging import redact
from bot.config.settings import Settings
from bot.pipeline.dispatcher import Dispatcher
from bot.sources.pubsub import RedisListener
from bot.sources.stream import StreamConsumer
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.registry import ChatRegistry
from bot.store.schedule import ScheduleStore

log = structlog.get_logger(__name__)

# The one reply here a chat user who is not an admin gets: in their language.
REFUSAL = N_("Sorry, that command is only for the bot's admins.")
# Commands whose reply reveals a deep link or user data: answered in the admin's private chat.
PRIVATE_ONLY = frozenset({"link", "users", "whois", "deadletters"})
PRIVATE_ONLY_REPLY = "I answer that only in our private chat: it shows links or user data."

# An admin command: the update and its arguments -> the HTML reply (None: answered already).
Answer = Callable[[Update, list[str]], Awaitable[str | None]]
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


class AdminCommands:
    """The operator's console in Telegram: the commands of each group (admin_status,
    admin_users, admin_sending, admin_delivery) behind one gate. Replies are short, monospace
    where tabular, and passed through the same redaction as logs, so no token or Redis
    password can leak."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: redis.asyncio.Redis,
        registry: ChatRegistry,
        stats: Stats,
        dispatcher: Dispatcher,
        dead_letters: DeadLetterStore,
        broadcaster: Broadcaster,
        listener: RedisListener | None,
        stream: StreamConsumer | None,
        leadership: Leadership | None = None,
        schedule: ScheduleStore | None = None,
        chosen_language: ChosenLanguage | None = None,
    ) -> None:
        self._chosen_language = chosen_language
        self._admin_ids = settings.admin_ids
        self._secrets = settings.secrets
        status = StatusCommands(
            settings,
            client=client,
            registry=registry,
            stats=stats,
            dispatcher=dispatcher,
            listener=listener,
            stream=stream,
            leadership=leadership,
        )
        users = UserCommands(
            client=client, registry=registry, link_ttl_seconds=settings.link_ttl_seconds
        )
        sending = SendingCommands(dispatcher=dispatcher, broadcaster=broadcaster, schedule=schedule)
        delivery = DeliveryCommands(settings, dispatcher=dispatcher, dead_letters=dead_letters)
        self._answers: dict[str, Answer] = {
            "stats": status.stats,
            "health": status.health,
            "users": users.users,
            "whois": users.whois,
            "send": sending.send,
            "broadcast": sending.broadcast,
            "broadcast_cancel": sending.broadcast_cancel,
            "scheduled": sending.scheduled,
            "link": users.link,
            "unlink": users.unlink,
            "deadletters": delivery.deadletters,
            "retry": delivery.retry,
            "pause": delivery.pause,
            "resume": delivery.resume,
        }

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Add the admin handlers, guarded by one filter, and the refusal for everyone else.
        Register before the chat commands' catch-all."""
        only_admins = filters.User(user_id=self._admin_ids)
        for name, answer in self._answers.items():
            application.add_handler(
                CommandHandler(name, self._answering(name, answer), filters=only_admins)
            )
        application.add_handler(CommandHandler(list(self._answers), self.refuse))

    async def refuse(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        text = update.effective_message.text if update.effective_message else None
        log.warning(
            "admin_refused",
            user_id=user.id if user else None,
            command=(text or "").split(maxsplit=1)[0][:40],
        )
        if update.effective_message is not None:
            language = await language_of(update, self._chosen_language)
            await update.effective_message.reply_text(gettext(language, REFUSAL))

    def _answering(self, name: str, answer: Answer) -> Handler:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            if message is None:
                return
            user_id = update.effective_user.id if update.effective_user else None
            log.info("admin_command", command=name, user_id=user_id)
            chat = update.effective_chat
            if name in PRIVATE_ONLY and (chat is None or chat.type != ChatType.PRIVATE):
                # Everyone in a group would see the link (and could redeem it) or the ids.
                await message.reply_text(PRIVATE_ONLY_REPLY)
                return
            try:
                reply = await answer(update, list(context.args or []))
            except Usage as usage:
                reply = f"Usage: {usage}"
            except RedisError as exc:
                reply = f"Redis is unavailable: {type(exc).__name__}"
            if reply is not None:
                await message.reply_text(redact(reply, self._secrets), parse_mode=ParseMode.HTML)

        return handle
