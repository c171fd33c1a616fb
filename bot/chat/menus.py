"""The command menus Telegram shows beside the text field: the public commands for everyone, the
public and admin ones in each admin's chat (setMyCommands per scope)."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

log = structlog.get_logger(__name__)

PUBLIC_COMMANDS = [
    BotCommand("start", "Link this chat to your account"),
    BotCommand("stop", "Stop notifications and unlink this chat"),
    BotCommand("help", "What this bot does"),
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


async def publish_menus(bot: Bot, admin_ids: Iterable[int]) -> None:
    """setMyCommands: the public list for everyone, public + admin only in admins' chats. A
    failure is logged, never fatal: the menu is a convenience."""
    try:
        await bot.set_my_commands(PUBLIC_COMMANDS)
    except TelegramError as exc:
        log.warning("commands_menu_not_set", error=exc.message)
    for admin_id in sorted(admin_ids):
        try:
            await bot.set_my_commands(
                PUBLIC_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin_id)
            )
        except TelegramError as exc:
            # "chat not found" until the admin has opened a chat with the bot.
            log.warning("admin_menu_not_set", admin_id=admin_id, error=exc.message)
