"""A budget of messages per user, checked before any handler runs: one user flooding the bot
with commands is slowed down without holding up anyone else."""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from bot.chat import groups
from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of

log = structlog.get_logger(__name__)

SLOW_DOWN = N_("You are sending messages too fast; I will answer again in a moment.")
FORGET_EVERY = 1000  # checks between sweeps of users whose budget is full again


class _Bucket:
    __slots__ = ("at", "tokens", "warned")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at
        self.warned = False


class CommandBudget:
    """Each user may send `burst` messages at once and `per_minute` a minute after that
    (a token bucket). A message over the budget is dropped before any handler sees it; the
    first one dropped gets one "slow down" reply, the rest none, until the budget refills.
    Admins (`exempt`) are never throttled. The "slow down" is in the user's language
    (`chosen_language`: see bot/chat/i18n.py), looked up only when it is sent."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        exempt: Iterable[int] = (),
        *,
        chosen_language: ChosenLanguage | None = None,
    ) -> None:
        self._burst = burst
        self._chosen_language = chosen_language
        self._rate = per_minute / 60
        self._exempt = frozenset(exempt)
        self._buckets: dict[int, _Bucket] = {}
        self._checks = 0

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Check every update before anything answers it (bot.chat.groups)."""
        application.add_handler(TypeHandler(Update, self._check), group=groups.BUDGET)

    def allow(self, user_id: int, now: float | None = None) -> bool:
        """Take one message from `user_id`'s budget; False when it is spent."""
        if user_id in self._exempt:
            return True
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._checks += 1
        if self._checks % FORGET_EVERY == 0:
            self._forget_full(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True
        return False

    def _forget_full(self, now: float) -> None:
        """Users whose budget has refilled need no entry: a new one starts full too."""
        full = [
            user
            for user, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self._rate >= self._burst
        ]
        for user in full:
            del self._buckets[user]

    async def _check(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        payer = _payer(update)
        if payer is None or not _counted(update, context.bot.id) or self.allow(payer):
            return
        bucket = self._buckets[payer]
        if update.callback_query is not None:
            # A tap: its spinner must stop, and a reply under the bot's own notification would
            # be a chat message per tap. The toast says it instead.
            try:
                await update.callback_query.answer(await self._slow_down(update))
            except TelegramError as exc:
                log.warning("throttle_reply_failed", error=exc.message)
            raise ApplicationHandlerStop
        message = update.effective_message
        in_private = update.effective_chat is not None and update.effective_chat.type == "private"
        # In a group the "slow down" would be one more message for everyone: dropped silently.
        if not bucket.warned and message is not None and in_private:
            bucket.warned = True
            log.warning("user_throttled", user_id=payer)
            try:
                await message.reply_text(await self._slow_down(update))
            except TelegramError as exc:  # the update is dropped all the same
                log.warning("throttle_reply_failed", error=exc.message)
        raise ApplicationHandlerStop

    async def _slow_down(self, update: Update) -> str:
        return gettext(await language_of(update, self._chosen_language), SLOW_DOWN)


def _payer(update: Update) -> int | None:
    """Whose budget an update costs: its sender's; a channel's post has none (it is signed
    by the channel), so the channel pays for its posts."""
    user = update.effective_user
    if user is not None:
        return user.id
    if update.channel_post is not None:
        return update.channel_post.chat.id
    return None


def _counted(update: Update, bot_id: int) -> bool:
    """Whether an update costs its payer from the budget: what the bot answers. Not the bot
    being added or removed (that must never be dropped), nor a reaction (the bot answers none,
    and Telegram does not send it again: dropped, it would be lost), nor chatter the bot sees
    as an administrator of a group or channel: only commands and replies to the bot count
    there."""
    if update.my_chat_member is not None or update.message_reaction is not None:
        return False
    post = update.channel_post
    if post is not None:
        return bool(post.text and post.text.startswith("/"))
    chat, message = update.effective_chat, update.message
    if chat is None or chat.type == "private" or message is None:
        return True
    # A reply to one of the bot's messages is an answer to a notification, like a command.
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    return bool(message.text and message.text.startswith("/"))
