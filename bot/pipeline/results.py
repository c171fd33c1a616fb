"""What a delivery is given (a Target) and what it gives back (a Result, a Reached per chat)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from bot.notification.outcomes import Outcome
from bot.preferences import Category
from bot.store.chats import LinkedChat
from bot.store.memory import Memory


@dataclass(frozen=True)
class Result:
    """The final outcome of one delivery, why, how many send attempts it took, and the ids of
    the messages Telegram made (in order; some, when a later part failed). For a user's
    chats, `chats` has each chat's own result."""

    outcome: Outcome
    reason: str | None = None
    attempts: int = 0
    message_ids: tuple[int, ...] = ()
    # Where they are and what each holds (see Memory): remembered for the id's edit or delete.
    chat_id: int | None = None
    kinds: tuple[str, ...] = ()
    chats: tuple[Reached, ...] = ()
    links: tuple[LinkChange, ...] = ()  # in one chat: what its link needs, made by the settle


class LinkChange(NamedTuple):
    """A change to a chat's link that Telegram's answer to a send called for, made when the
    notification is settled: the group became a supergroup (`moved_to`), or the chat refused
    the bot (403) and the link goes (`unlinked`, why). One of the two.

    Made at the settle, not when Telegram answered: a delivery cancelled before its settle (a
    SIGTERM's grace ran out) leaves it undone, and the next send to that chat, getting the
    same answer, makes it then."""

    user_id: int
    chat_id: int
    moved_to: int | None = None
    unlinked: Literal["blocked", "removed"] | None = None


class Reached(NamedTuple):
    """One chat's part of a delivery: the chat, what happened there, and what to remember of
    its messages for a later edit or delete of the id (None: nothing)."""

    chat: LinkedChat
    result: Result
    memory: Memory | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What a delivery needs besides the notification, read before it is sent: the user's
    chats (none: not linked), its action key, what was sent for its id (edit, delete: a
    memory per chat), when it expires and how urgent it is."""

    chats: tuple[LinkedChat, ...]
    action_key: str | None = None
    memory: tuple[Memory, ...] | None = None
    expires: float | None = None  # on this process's clock: compared with time.time()
    rank: int = 1
    mute: Category | None = None  # a button under it that mutes this category
    # A reminder: sent as a reply to this message in each chat (by chat id), only to them.
    reply_to: Mapping[int, int] | None = None
