"""Single-use link tokens and the deep links that carry them (`t.me/<bot>?start=<token>`)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from bot.notification.schema import ChatKind
from bot.store.chats import KINDS
from bot.store.plans import Command, Plan

# Key names live here and nowhere else; the publisher imports them.
LINK_TOKEN_PREFIX = "notify:link:"  # noqa: S105 - a key prefix; string per token -> user id
BOT_USERNAME = "notify:bot_username"  # the bot's @username, written at start-up for the publisher

TOKEN_BYTES = 32  # 256 bits; token_urlsafe gives 43 characters of A-Za-z0-9_-
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
ISSUED_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # what new_link_token makes


@dataclass(frozen=True)
class Token:
    """What a link token links: whose chat, and which kind of chat it is for."""

    user_id: int
    kind: ChatKind


def new_link_token() -> str:
    """A random deep-link payload: 256 bits, 43 characters, within Telegram's 64-character rule."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def issued_token(user_id: int, kind: ChatKind, ttl_seconds: int) -> Plan[str]:
    """Store a fresh single-use token that links a chat of `kind` to `user_id` and expires
    after `ttl_seconds`; the token."""
    token = new_link_token()
    yield Command("set", (link_token_key(token), token_value(user_id, kind)), {"ex": ttl_seconds})
    return token


def link_token_key(token: str) -> str:
    return LINK_TOKEN_PREFIX + token


def token_value(user_id: int, kind: ChatKind) -> str:
    """What a token's key holds: the user id, and the kind of chat it links unless private (a
    plain id is what schema 1 stored: still a private chat's token)."""
    return str(user_id) if kind == "private" else f"{user_id}:{kind}"


def read_token(raw: bytes | str | None) -> Token | None:
    """What a token's key holds (`token_value`) read back; None when missing or not one."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    user, _, kind = text.partition(":")
    try:
        return Token(int(user), _kind(kind or "private"))
    except (ValueError, KeyError):
        return None


def deep_link(bot_username: str, token: str, *, group: bool = False) -> str:
    """https://t.me/<bot>?start=<token>: opening it sends the bot `/start <token>`;
    `?startgroup=` asks which group to add the bot to, then sends the same in that group. Our
    own (python-telegram-bot's helper does the same) so that a web app importing the
    publisher does not need python-telegram-bot; Telegram's rules for the payload are checked
    here too."""
    if len(bot_username) < 4:
        raise ValueError(f"not a bot username: {bot_username!r}")
    if not TOKEN_SHAPE.fullmatch(token):
        raise ValueError("a deep-link payload is 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return f"https://t.me/{bot_username}?{'startgroup' if group else 'start'}={token}"


def _kind(name: str) -> ChatKind:
    if name not in KINDS:
        raise KeyError(name)
    return name
