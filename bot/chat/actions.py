"""Taps on a notification's action buttons: answered at once (the user's spinner stops, a short
toast in the user's language says what happened), and recorded for the web app on the actions
stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of
from bot.store.actions import (
    CALLBACK_PREFIX,
    Acknowledging,
    ActionStore,
    Tap,
    TapEvent,
    parse_callback,
)
from bot.store.registry import kind_of

log = structlog.get_logger(__name__)

# Translators: the toast after a tap on a notification's button; {button} is the button's text.
DONE = N_("✓ {button}")
# Translators: stands in for the button's text in "✓ {button}" when it cannot be found.
DONE_LABEL = N_("Done")
MAX_TOAST = 200  # characters Telegram shows in a callback query's answer
EXPIRED = N_("This button has expired or is not valid any more.")
UNAVAILABLE = N_("Sorry, that did not go through. Please try again in a minute.")


class ButtonTaps:
    """The callback queries of action buttons (callback_data "a:<key>:<index>"). Toasts are in
    the language `chosen_language` says the chat's user picked, else Telegram's."""

    def __init__(
        self,
        actions: ActionStore,
        *,
        chosen_language: ChosenLanguage | None = None,
        acknowledging: Acknowledging | None = None,
        on_acknowledged: Callable[[bool], None] | None = None,
    ) -> None:
        self._actions = actions
        self._chosen_language = chosen_language
        # A tap acknowledges its notification (its reminders stop), in the script recording it.
        self._acknowledging = acknowledging
        self._on_acknowledged = on_acknowledged

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handler(CallbackQueryHandler(self.tapped, pattern=f"^{CALLBACK_PREFIX}"))

    async def tapped(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        parsed = parse_callback(query.data)
        language = await language_of(update, self._chosen_language)
        message = query.message
        chat_id = message.chat.id if message is not None else None
        if parsed is None or chat_id is None:
            outcome = Tap.UNKNOWN
        else:
            key, index = parsed
            tap = TapEvent(
                query.id,
                chat_id,
                message.message_id if message else None,
                kind_of(message.chat.type) if message else "private",
            )
            try:
                tapped = await self._actions.record_tap(key, index, tap, self._acknowledging)
            except RedisError as exc:
                log.warning("action_not_recorded", chat_id=chat_id, error=str(exc))
                await self._answer(query.answer(gettext(language, UNAVAILABLE)))
                return
            outcome = tapped.outcome
            if self._on_acknowledged is not None:
                self._on_acknowledged(tapped.acknowledged)
        if outcome is Tap.UNKNOWN:
            log.info("action_refused", chat_id=chat_id, reason="unknown or expired key")
            await self._answer(query.answer(gettext(language, EXPIRED)))
            return
        if outcome is Tap.RECORDED:
            log.info("action_recorded", chat_id=chat_id)
        label = _label(message, query.data) or gettext(language, DONE_LABEL)
        toast = gettext(language, DONE).format(button=label)
        if len(toast) > MAX_TOAST:  # a button's text may be longer than a toast may be
            toast = toast[: MAX_TOAST - 1] + "…"
        await self._answer(query.answer(toast))

    @staticmethod
    async def _answer(answering: Awaitable[bool]) -> None:
        """Answer the query; a query answered too late (Telegram allows a short while) is
        only logged: the tap was recorded or refused all the same."""
        try:
            await answering
        except TelegramError as exc:
            log.warning("callback_answer_failed", error=exc.message)


def _label(message: object, data: str | None) -> str | None:
    """The tapped button's text, found on the message it was under."""
    markup = message.reply_markup if isinstance(message, Message) else None
    if isinstance(markup, InlineKeyboardMarkup):
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data == data:
                    return button.text
    return None
