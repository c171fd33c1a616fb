"""What answers a chat, in the order python-telegram-bot tries it: the message budget first, the
admin commands, taps on buttons, /settings and its kin, linking, then the user commands with
their catch-all for anything else."""

from __future__ import annotations

from telegram.ext import Application

from bot.chat.actions import ButtonTaps
from bot.chat.admin import AdminCommands
from bot.chat.feedback import ChatFeedback
from bot.chat.linking import Linker
from bot.chat.preferences import ChatPreferences
from bot.chat.telegram_language import LanguageRefresh
from bot.chat.throttle import CommandBudget
from bot.chat.user import ChatCommands
from bot.config.settings import Settings
from bot.store.actions import ActionStore
from bot.store.languages import LanguageStore
from bot.store.registry import ChatRegistry


def register_handlers(
    application: Application,  # type: ignore[type-arg]
    settings: Settings,
    *,
    admin: AdminCommands,
    registry: ChatRegistry,
    actions: ActionStore,
    preferences: ChatPreferences,
    languages: LanguageStore,
    feedback: ChatFeedback,
) -> None:
    """A user's message budget first (bot.chat.groups), replies and reactions to notifications,
    then the admin handlers: the chat commands
    end with a catch-all for unknown messages. Taps on buttons count against the budget too.
    Replies are in the language the chat's user picked, else Telegram's."""
    chosen = preferences.store.language_for_chat
    budget = CommandBudget(
        settings.command_burst,
        settings.command_per_minute,
        exempt=settings.admin_ids,
        chosen_language=chosen,
    )
    LanguageRefresh(languages).register(application)
    budget.register(application)
    feedback.register(application)
    admin.register(application)
    ButtonTaps(
        actions,
        chosen_language=chosen,
        acknowledging=feedback.tap_acknowledges,
        on_acknowledged=feedback.tapped,
    ).register(application)
    preferences.register(application)
    Linker(registry, chosen_language=chosen, languages=languages).register(application)
    ChatCommands(chosen_language=chosen).register(application)
