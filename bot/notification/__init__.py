"""The notification: its wire schema, its parsing and its outcomes; no I/O."""

from bot.notification.outcomes import Outcome
from bot.notification.parsing import InvalidNotification, Parsed, parse_notification
from bot.notification.schema import (
    Button,
    ChatKind,
    ChatsWanted,
    Format,
    Notification,
    Op,
    Priority,
)

__all__ = [
    "Button",
    "ChatKind",
    "ChatsWanted",
    "Format",
    "InvalidNotification",
    "Notification",
    "Op",
    "Outcome",
    "Parsed",
    "Priority",
    "parse_notification",
]
