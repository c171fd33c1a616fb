"""What the bot reports back to the web app on its event streams (taps on action buttons,
chats linked and unlinked, replies, reactions and reminders nobody acknowledged), and the plan
that reads such a stream with a consumer group."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from redis.exceptions import ResponseError

from bot.store.client import PAYLOAD_FIELD, SOCKET_TIMEOUT, as_text
from bot.store.link_events import LinkType
from bot.store.plans import Command, Feed

EVENTS_WAIT = 1.0  # seconds one read of an events stream blocks: below the socket timeout
MAX_EVENTS_WAIT = SOCKET_TIMEOUT / 2

EventT = TypeVar("EventT")
T = TypeVar("T")

# What a feedback event reports: an answer in the reply field, reactions added or removed, or
# a notification whose reminders all went out unacknowledged.
FeedbackType = Literal["reply", "reaction", "unacknowledged"]


@dataclass(frozen=True)
class ActionEvent:
    """A tap on an action button, as the bot recorded it on the actions stream."""

    action: str
    user_id: int  # the user linked to the chat the tap came from (never the client's word)
    id: str | None  # the notification's id, if it had one
    chat_id: int
    message_id: int | None
    at: str  # ISO 8601, UTC
    entry_id: str  # the stream entry
    # The kind of chat tapped in: "private" (the user), or "group" (anyone in it: a group of
    # the user's, so their action too?). Channels get no action buttons.
    chat: str = "private"

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> ActionEvent | None:
        """The event in an actions stream entry.

        Args:
            entry_id: the entry's id.
            fields: its fields, as XREAD(GROUP) returns them.

        Returns:
            The event; None for an entry that is not one of ours (skipped by the readers).
        """
        try:
            data = _payload_of(fields)
            return cls(
                action=str(data["action"]),
                user_id=int(data["user_id"]),
                id=data.get("id"),
                chat_id=int(data["chat_id"]),
                message_id=data.get("message_id"),
                at=str(data["at"]),
                entry_id=as_text(entry_id),
                chat=str(data.get("chat", "private")),
            )
        except (TypeError, ValueError, KeyError):
            return None  # not an event of ours: skipped (and acknowledged)


@dataclass(frozen=True)
class LinkEvent:
    """A chat linked to or unlinked from a user, as the bot (or a publisher's `unlink`)
    recorded it on the link events stream, in the same transaction as the change."""

    type: LinkType  # "linked" or "unlinked"
    user_id: int
    # start, stop, blocked, admin, web_app, relinked or removed (docs: guides/web-app.md, Link
    # events); a str, so that a reason a newer bot adds reaches the web app instead of being dropped
    reason: str
    at: str  # ISO 8601, UTC
    entry_id: str  # the stream entry
    chat: str | None = None  # the kind of chat: private, group or channel
    chats: int | None = None  # how many chats the user has after it (0: not linked any more)

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> LinkEvent | None:
        """The event in a link events stream entry.

        Args:
            entry_id: the entry's id.
            fields: its fields, as XREAD(GROUP) returns them.

        Returns:
            The event; None for an entry that is not one of ours (skipped by the readers).
        """
        try:
            data = _payload_of(fields)
            kind = data["type"]
            if kind not in ("linked", "unlinked"):
                return None
            return cls(
                type=kind,
                user_id=int(data["user_id"]),
                reason=str(data["reason"]),
                at=str(data["at"]),
                entry_id=as_text(entry_id),
                chat=None if data.get("chat") is None else str(data["chat"]),
                chats=None if data.get("chats") is None else int(data["chats"]),
            )
        except (TypeError, ValueError, KeyError):
            return None  # not an event of ours: skipped (and acknowledged)


@dataclass(frozen=True, kw_only=True)
class FeedbackEvent:
    """What a chat said back to a notification with an id, or that its reminders ended
    unacknowledged, as the bot recorded it on the feedback stream: `type` says which, and which
    of the optional fields it has.

    "reply": `text` (and `entities` when formatted), `reply_message_id`; in groups `from_user`
    (or `sender_chat` for an anonymous administrator or a channel). "reaction": `added` and
    `removed`. Both: `chat`, `chat_id`, `message_id` (the notification's message).
    "unacknowledged": `reminders` and `reason`, and no chat."""

    type: FeedbackType
    id: str | None  # the notification's id
    user_id: int  # the user linked to the chat it came from (never the client's word)
    at: str  # ISO 8601, UTC
    entry_id: str  # the stream entry
    chat: str | None = None  # "private", "group" or "channel"; None for "unacknowledged"
    chat_id: int | None = None
    message_id: int | None = None  # the notification's message replied or reacted to
    text: str | None = None  # the answer
    # Its formatting, as Telegram's MessageEntity JSON (offsets in UTF-16 units); () if plain
    entities: tuple[Mapping[str, Any], ...] = ()
    reply_message_id: int | None = None  # the user's answer's message
    from_user: int | None = None  # the Telegram user who answered, in a group ("from")
    added: tuple[str, ...] = ()  # reactions: emoji, or custom emoji ids
    removed: tuple[str, ...] = ()
    reminders: int | None = None  # how many went out, unacknowledged
    # Why they ended: "unanswered" (all went out), or "blocked", "unlinked", "muted",
    # "expired", "invalid" (they could not go on)
    reason: str | None = None
    sender_chat: int | None = None  # who answered in a group, when not a user

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> FeedbackEvent | None:
        """The event in a feedback stream entry.

        Args:
            entry_id: the entry's id.
            fields: its fields, as XREAD(GROUP) returns them.

        Returns:
            The event; None for an entry that is not one of ours, or of a type this publisher
            does not know (a newer bot's): skipped by the readers.
        """
        try:
            data = _payload_of(fields)
            kind = data["type"]
            if kind not in get_args(FeedbackType):
                return None
            return cls(
                type=kind,
                id=_optional(data, "id", str),
                user_id=int(data["user_id"]),
                at=str(data["at"]),
                entry_id=as_text(entry_id),
                chat=_optional(data, "chat", str),
                chat_id=_optional(data, "chat_id", int),
                message_id=_optional(data, "message_id", int),
                text=_optional(data, "text", str),
                entities=tuple(dict(entity) for entity in data.get("entities") or ()),
                reply_message_id=_optional(data, "reply_message_id", int),
                from_user=_optional(data, "from", int),
                added=tuple(str(reaction) for reaction in data.get("added") or ()),
                removed=tuple(str(reaction) for reaction in data.get("removed") or ()),
                reminders=_optional(data, "reminders", int),
                reason=_optional(data, "reason", str),
                sender_chat=_optional(data, "sender_chat", int),
            )
        except (TypeError, ValueError, KeyError):
            return None  # not an event of ours: skipped (and acknowledged)


def _optional(data: Mapping[str, Any], name: str, kind: Callable[[Any], T]) -> T | None:
    value = data.get(name)
    return None if value is None else kind(value)


def _payload_of(fields: dict[Any, Any]) -> Any:
    """The JSON in an event entry's `payload` field; ValueError or TypeError if it is not."""
    return json.loads(fields.get(PAYLOAD_FIELD.encode(), fields.get(PAYLOAD_FIELD)) or b"")


def checked_wait(wait: float) -> float:
    """`wait` if a read may block that long: one that blocks past the connection's socket
    timeout fails instead of returning. Checked when a reader is asked for, not when its loop
    starts."""
    if not 0 < wait <= MAX_EVENTS_WAIT:
        raise ValueError(f"wait must be over 0 and at most {MAX_EVENTS_WAIT:g} seconds")
    return wait


def read_events(
    stream: str,
    group: str,
    consumer: str,
    parse: Callable[[Any, dict[Any, Any]], EventT | None],
    *,
    wait: float,
    stop_after: float | None,
) -> Feed[EventT]:
    """Read an events stream with consumer `group` (made on first use, from the stream's
    start): this consumer's unacknowledged entries first (a loop left early), then new ones,
    one at a time, each read waiting up to `wait` seconds. An entry is acknowledged when the
    caller asks for the next event (so one left early is read again), a malformed one skipped
    and acknowledged; the reading ends once no entry came for `stop_after` seconds (None:
    never)."""
    try:
        yield Command("xgroup_create", (stream, group), {"id": "0", "mkstream": True})
    except ResponseError as exc:
        if not str(exc).startswith("BUSYGROUP"):  # the group is there already
            raise
    pending = True
    quiet_since = time.monotonic()
    while stop_after is None or time.monotonic() - quiet_since < stop_after:
        reply = yield Command(
            "xreadgroup",
            kwargs={
                "groupname": group,
                "consumername": consumer,
                "streams": {stream: "0" if pending else ">"},
                "count": 1,  # one at a time: an event not handled yet stays free for the others
                "block": None if pending else max(1, int(wait * 1000)),  # 0 would be for ever
            },
        )
        entries = list(reply[0][1]) if reply else []
        if pending and not entries:
            pending = False  # this consumer's backlog is done: new entries from now on
        for entry_id, fields in entries:
            event = parse(entry_id, fields)
            if event is not None:
                yield event
            yield Command("xack", (stream, group, entry_id))
            quiet_since = time.monotonic()
