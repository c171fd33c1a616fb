"""A user's linked chats and the form the registry stores them in ("42:p,-1001:g:7"); no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from bot.notification.schema import ChatKind, ChatsWanted

KINDS: tuple[ChatKind, ...] = ("private", "group", "channel")
_LETTER: dict[str, ChatKind] = {kind[0]: kind for kind in KINDS}
WANTED_KIND: dict[str, ChatKind] = {"private": "private", "groups": "group", "channels": "channel"}


class LinkedChat(NamedTuple):
    """One chat of a user: where notifications go (a forum topic's thread id, if linked from
    one) and what kind of chat it is (what a notification's `chats` narrows by). A tuple: one
    is made for every chat of every notification's user."""

    chat_id: int
    kind: ChatKind = "private"
    thread_id: int | None = None

    def wanted(self, chats: ChatsWanted) -> bool:
        return chats == "all" or WANTED_KIND[chats] == self.kind


def encode_chats(chats: Iterable[LinkedChat]) -> str:
    """The user's chats as stored: "42:p,-1001:g:7" (id, kind's letter, topic)."""
    return ",".join(_encode(chat) for chat in chats)


def _encode(chat: LinkedChat) -> str:
    head = f"{chat.chat_id}:{chat.kind[0]}"
    return head if chat.thread_id is None else f"{head}:{chat.thread_id}"


def decode_chats(raw: bytes | str | None) -> tuple[LinkedChat, ...]:
    """The chats stored for a user ("42:p,-1001:g:7"); () for none."""
    if not raw:
        return ()
    text = raw.decode() if isinstance(raw, bytes) else raw
    chats = []
    for item in text.split(","):
        parts = item.split(":")
        thread = int(parts[2]) if len(parts) > 2 else None
        chats.append(LinkedChat(int(parts[0]), _LETTER[parts[1]], thread))
    return tuple(chats)
