"""The command menus Telegram shows beside the text field: the public commands for everyone, in
each language with a catalog, and the public and admin ones, in English, in each admin's chat
(setMyCommands per scope and language)."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.chat.i18n import LANGUAGES, N_, gettext

log = structlog.get_logger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("start", N_("Link this chat to your account")),
    BotCommand("stop", N_("Stop notifications and unlink this chat")),
    BotCommand("settings", N_("Choose what you get, quiet hours, digest and language")),
    BotCommand("quiet", N_("Quiet hours: /quiet 22:00-07:00, or /quiet off")),
    BotCommand("timezone", N_("Your time zone: /timezone Europe/Berlin")),
    BotCommand("language", N_("The language I write in: /language de")),
    BotCommand("help", N_("What this bot does")),
]
ADMIN_COMMANDS = [
    BotCommand("stats", "Counters, uptime, Redis, backlog, send rate"),
    BotCommand("health", "Redis and Telegram status and latency"),
    BotCommand("users", "Linked users: /users [page]"),
    BotCommand("whois", "One user: /whois USER_ID"),
    BotCommand("send", "Test notification: /send USER_ID TEXT"),
    BotCommand("broadcast", "To every linked chat: /broadcast TEXT"),
    BotCommand("broadcast_cancel", "Stop the running broadcast"),
    BotCommand("scheduled", "Notifications waiting for their deliver_at"),
    BotCommand("link", "Deep link for a user: /link USER_ID"),
    BotCommand("unlink", "Remove a user's link: /unlink USER_ID"),
    BotCommand("deadletters", "Newest dead letters: /deadletters [n]"),
    BotCommand("retry", "Replay dead letters: /retry ID|all"),
    BotCommand("pause", "Hold delivery (nothing is lost)"),
    BotCommand("resume", "Resume delivery"),
]


def public_commands(language: str) -> list[BotCommand]:
    """The public menu with its descriptions in `language`."""
    return [BotCommand(c.command, gettext(language, c.description)) for c in PUBLIC_COMMANDS]


async def publish_menus(bot: Bot, admin_ids: Iterable[int]) -> None:
    """setMyCommands: the public list for everyone (English for any language without a menu of
    its own, and one per other language with a catalog), public + admin, in English, only in
    admins' chats. A failure is logged, never fatal: the menu is a convenience."""
    default, *others = LANGUAGES
    try:
        await bot.set_my_commands(public_commands(default))
    except TelegramError as exc:
        log.warning("commands_menu_not_set", language=default, error=exc.message)
    for language in others:
        try:
            await bot.set_my_commands(public_commands(language), language_code=language)
        except TelegramError as exc:
            log.warning("commands_menu_not_set", language=language, error=exc.message)
    for admin_id in sorted(admin_ids):
        try:
            # Without a language: Telegram prefers a chat's own menu to a language's, so an
            # admin whose Telegram is in German sees this one, in English.
            await bot.set_my_commands(
                PUBLIC_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin_id)
            )
        except TelegramError as exc:
            # "chat not found" until the admin has opened a chat with the bot.
            log.warning("admin_menu_not_set", admin_id=admin_id, error=exc.message)
