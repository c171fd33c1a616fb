"""What a web app imports to publish notifications and make deep links (sync and async).

    from bot.publisher import Publisher
    notifier = Publisher.from_url("redis://localhost:6379/0")
    notifier.publish(42, "Your order is on its way!")   # durable: the stream; -> Published(1)
    notifier.publish(42, "<b>Order #17</b> has shipped", format="html",
                     buttons=[[Button.url("Track parcel", "https://shop.example/t/17")],
                              [Button.action("Received it", "order-17:received")]])
    notifier.enqueue(42, "Your code: 1234", priority="high", ttl=300)
    notifier.edit("order-17", 42, "<b>Order #17</b> was delivered", format="html")
    notifier.fan_out([42, 43, 44], "The sale starts now", id="sale-1")
    notifier.create_link(42)   # -> "https://t.me/<bot>?start=<token>"
    for event in notifier.actions(group="shop"):   # taps on action buttons
        handle(event.action, event.user_id)          # acknowledged when the loop goes on
    for event in notifier.link_events(group="shop"):   # chats linked and unlinked
        show_connected(event.user_id, event.type == "linked")

The wire format is plain JSON, so publishing needs nothing from this package:
``redis.Redis().publish("notification", json.dumps({"user_id": 42, "message": "hi"}))``; but a
raw PUBLISH is fire-and-forget (lost when no bot listens), and `publish` uses the stream.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack

import redis
import redis.asyncio
import redis.client
from pydantic import ValidationError
from redis.exceptions import ResponseError

from bot.notification import (
    ChatKind,
    ChatsWanted,
    Format,
    Notification,
    Priority,
    decode_chats,
    describe_errors,
)
from bot.preferences import Category, Preferences, QuietMode
from bot.store import client as redis_client
from bot.store.chat_links import CHAT_TO_USER, USER_CHATS, queue_unlink_all
from bot.store.client import PAYLOAD_FIELD, add_to_stream, as_text, priority_streams
from bot.store.deployment import BOT_ID, MARK_FIELD, database_number, mark_from
from bot.store.link_events import DEFAULT_STREAM as DEFAULT_LINK_EVENTS_STREAM
from bot.store.link_events import LinkEvents, LinkType
from bot.store.link_tokens import (
    BOT_USERNAME,
    deep_link,
    link_token_key,
    new_link_token,
    token_value,
)
from bot.store.preferences import (
    CATEGORIES,
    PREFERENCES,
    PreferenceStore,
    categories_from,
    preferences_from,
)
from bot.store.registry import ChatRegistry

__all__ = [
    "DEFAULT_ACTIONS_STREAM",
    "DEFAULT_CHANNEL",
    "DEFAULT_LINK_TTL",
    "DEFAULT_REDIS_URL",
    "DEFAULT_STREAM",
    "DEFAULT_STREAM_MAXLEN",
    "EVENTS_WAIT",
    "ActionEvent",
    "AsyncPublisher",
    "Button",
    "ContentOptions",
    "DeliveryOptions",
    "EditOptions",
    "FanOutOptions",
    "LinkEvent",
    "Moment",
    "Options",
    "PreferenceChanges",
    "Published",
    "Publisher",
    "Receipts",
    "Via",
    "encode",
]

DEFAULT_CHANNEL = "notification"
DEFAULT_STREAM = "notifications"
DEFAULT_STREAM_MAXLEN = 100_000
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_LINK_TTL = 24 * 3600
DEFAULT_ACTIONS_STREAM = "notification:actions"
EVENTS_WAIT = 1.0  # seconds one read of an events stream blocks: below the socket timeout
MAX_EVENTS_WAIT = redis_client.SOCKET_TIMEOUT / 2


@dataclass(frozen=True)
class Button:
    """An inline button under a notification: `Button.url(text, url)` opens a page,
    `Button.action(text, action)` reports `action` on the actions stream when tapped."""

    text: str
    kind: Literal["url", "action"]
    target: str

    @staticmethod
    def url(text: str, url: str) -> Button:
        return Button(text, "url", url)

    @staticmethod
    def action(text: str, action: str) -> Button:
        return Button(text, "action", action)

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, self.kind: self.target}


Receipts = Literal["summary", "each"]
# Where `publish` puts a notification: the durable stream, or the fire-and-forget channel.
Via = Literal["stream", "pubsub"]
# A datetime with a time zone, or an ISO 8601 string with one; a bare number means Unix seconds
# for expires_at but seconds from now for deliver_at.
Moment = datetime | str | float


class _Look(TypedDict, total=False):
    """How the message is read and shown: what a send and an edit share."""

    format: Format
    buttons: Sequence[Sequence[Button | dict[str, str]]] | None
    silent: bool
    preview: bool
    protect: bool
    thread_id: int | None


class ContentOptions(_Look, total=False):
    """What the message looks like (README: the notification's fields)."""

    photo: str | None
    document: str | None


class DeliveryOptions(TypedDict, total=False):
    """When and how urgently it goes out: `expires_at` (a datetime with a time zone, or Unix
    seconds; not sent after it), `ttl` (seconds after publishing; not with expires_at),
    `deliver_at` (a datetime with a time zone, or a number of seconds from now; at most a year
    ahead) and `priority` ("high", "normal" or "bulk")."""

    expires_at: Moment | None
    ttl: float | None
    deliver_at: Moment | None
    priority: Priority | None
    # Its kind (CATEGORIES): a user who muted it does not get it; a mute button under it.
    category: str | None
    mute_button: bool
    # Which of the user's chats: "all" (the default), "private", "groups" or "channels".
    chats: ChatsWanted


class FanOutOptions(ContentOptions, DeliveryOptions, total=False):
    """What a fan-out may carry besides its recipients, message, id and receipts."""


class Options(FanOutOptions, total=False):
    """What a notification may carry besides its user and message (README: the fields)."""

    id: str | None
    receipts: Receipts


class EditOptions(_Look, total=False):
    """What an edit may set besides the message. `buttons` are those shown after the edit
    (left out: none, as in Telegram); silent, protect and thread_id apply to parts sent anew
    when the new text is longer."""

    priority: Priority | None


def encode(user_id: int, message: str, **options: Unpack[Options]) -> str:
    """The JSON payload for one notification, validated by the model the bot parses it with;
    raises ValueError naming what is wrong. Fields left at their defaults are left out."""
    return _payload(_send(user_id, message, options))


def _send(user_id: int, message: str, options: Options) -> Notification:
    return _validate({**options, "user_id": user_id, "message": message})


def _edit(id: str, user_id: int, message: str | None, options: EditOptions) -> Notification:
    return _validate({**options, "op": "edit", "id": id, "user_id": user_id, "message": message})


def _delete(id: str, user_id: int, priority: Priority | None) -> Notification:
    return _validate({"op": "delete", "id": id, "user_id": user_id, "priority": priority})


def _cancel(id: str) -> Notification:
    return _validate({"op": "cancel", "id": id})


def _fan_out(
    users: Sequence[int] | Literal["all"],
    message: str,
    id: str | None,
    receipts: Receipts,
    options: FanOutOptions,
) -> Notification:
    audience = {"audience": "all"} if users == "all" else {"user_ids": users}
    return _validate({**options, **audience, "message": message, "id": id, "receipts": receipts})


def _validate(fields: dict[str, Any]) -> Notification:
    """The notification `fields` make, checked by the bot's own model, then for what only the
    publisher can tell (a moment already past); ValueError with one line naming the field."""
    # None stands for "not given": an edit tells a left-out field from one set to change.
    given = {name: value for name, value in fields.items() if value is not None}
    if "buttons" in given:
        given["buttons"] = [
            [button.to_json() if isinstance(button, Button) else button for button in row]
            for row in given["buttons"]
        ]
    if "deliver_at" in given:
        given["deliver_at"] = _from_now(given["deliver_at"])
    try:
        notification = Notification(**given)
    except ValidationError as exc:
        raise ValueError(f"invalid notification: {describe_errors(exc)}") from None
    _check_moments(notification, time.time())
    return notification


def _from_now(deliver_at: object) -> object:
    """deliver_at as the bot reads it: a number given here is seconds from now."""
    if isinstance(deliver_at, bool) or not isinstance(deliver_at, int | float):
        return deliver_at  # a datetime or an ISO 8601 string: the model reads (or refuses) it
    if not deliver_at >= 0:  # NaN too
        raise ValueError("invalid notification: deliver_at: seconds from now must be 0 or more")
    return round(time.time() + deliver_at, 3)


def _check_moments(notification: Notification, now: float) -> None:
    for name in ("expires_at", "deliver_at"):
        value = getattr(notification, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"invalid notification: {name}: not a finite time")
    # The bot would only count it expired: refused here, where the mistake can be fixed.
    if notification.expires_at is not None and notification.expires_at <= now:
        raise ValueError("invalid notification: expires_at is in the past")
    expires = notification.expires(now)  # ttl counts from publishing, i.e. now
    deliver_at = notification.deliver_at
    if deliver_at is not None and expires is not None and deliver_at >= expires:
        raise ValueError("invalid notification: deliver_at: not before it expires (expires_at/ttl)")


class Published(int):
    """What `publish` returns: an int, as it always did, so `if publish(...) > 0` still works.

    Queued on the durable stream: 1 (its one receiver, the bot's consumer group, delivers it
    even if no bot runs now) and `entry_id` is the stream entry's id. With via="pubsub": the
    number of bots that received it (0: none was listening, it is lost) and `entry_id` None.
    """

    entry_id: str | None

    def __new__(cls, receivers: int, entry_id: str | None = None) -> Published:
        published = super().__new__(cls, receivers)
        published.entry_id = entry_id
        return published

    def __repr__(self) -> str:
        return f"Published({int(self)}, entry_id={self.entry_id!r})"

    def __str__(self) -> str:  # int's, not the repr above (int has no __str__ of its own)
        return str(int(self))


def _payload(notification: Notification, deployment: str | None = None) -> str:
    data = notification.model_dump(exclude_defaults=True, exclude_none=True)
    if deployment is not None:
        # Channels are server-wide: the bots of other databases of this server hear it too.
        data[MARK_FIELD] = deployment
    if notification.op == "edit" and "buttons" in notification.model_fields_set:
        # An edit shows only the buttons it carries: [] must reach the bot to remove them all.
        data.setdefault("buttons", [])
    return json.dumps(data, ensure_ascii=False)


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
    # start, stop, blocked, admin, web_app, relinked or removed (README: Link events); a str,
    # so that a reason a newer bot adds reaches the web app instead of being dropped
    reason: str
    at: str  # ISO 8601, UTC
    entry_id: str  # the stream entry
    chat: str | None = None  # the kind of chat: private, group or channel
    chats: int | None = None  # how many chats the user has after it (0: not linked any more)

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> LinkEvent | None:
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


def _payload_of(fields: dict[Any, Any]) -> Any:
    """The JSON in an event entry's `payload` field; ValueError or TypeError if it is not."""
    return json.loads(fields.get(PAYLOAD_FIELD.encode(), fields.get(PAYLOAD_FIELD)) or b"")


EventT = TypeVar("EventT")


class _Reading(Generic[EventT]):
    """One loop over an events stream (actions, link events) read with a consumer group, as
    decisions without I/O, so the sync and the async publisher read every stream one way:
    this consumer's unacknowledged entries first (a loop left early), then new ones, one at a
    time, each read waiting up to `wait` seconds; an entry is acknowledged when the loop asks
    for the next one, a malformed one skipped (and acknowledged); the loop ends once no entry
    came for `stop_after` seconds (None: never)."""

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str,
        parse: Callable[[Any, dict[Any, Any]], EventT | None],
        *,
        wait: float,
        stop_after: float | None,
    ) -> None:
        # Checked when the reader is asked for, not when its loop starts; a read that blocks
        # past the connection's socket timeout fails instead of returning.
        if not 0 < wait <= MAX_EVENTS_WAIT:
            raise ValueError(f"wait must be over 0 and at most {MAX_EVENTS_WAIT:g} seconds")
        self.stream, self.group, self.consumer = stream, group, consumer
        self._parse = parse
        self._wait = wait
        self._stop_after = stop_after
        self._pending = True
        self._quiet_since = time.monotonic()

    def going(self) -> bool:
        return self._stop_after is None or time.monotonic() - self._quiet_since < self._stop_after

    def next_read(self) -> dict[str, Any]:
        """The XREADGROUP arguments of the next read."""
        return {
            "groupname": self.group,
            "consumername": self.consumer,
            "streams": {self.stream: "0" if self._pending else ">"},
            "count": 1,  # one at a time: an event not handled yet stays free for the others
            "block": None if self._pending else max(1, int(self._wait * 1000)),  # 0: for ever
        }

    def took(self, reply: Any) -> list[tuple[Any, EventT | None]]:
        """The entries a read returned, each with its event (None: malformed, skip it)."""
        entries = list(reply[0][1]) if reply else []
        if self._pending and not entries:
            self._pending = False  # this consumer's backlog is done: new entries from now on
        return [(entry_id, self._parse(entry_id, fields)) for entry_id, fields in entries]

    def acknowledged(self) -> None:
        self._quiet_since = time.monotonic()


class PreferenceChanges(TypedDict, total=False):
    """What `set_preferences` may change; what is left out stays as it is."""

    muted: Iterable[str]  # the categories turned off (all of them: it replaces the set)
    quiet: str | None  # "22:00-07:00" in the user's time zone; None: no quiet hours
    quiet_mode: QuietMode  # "silent" (without a sound) or "hold" (wait until they end)
    timezone: str | None  # an IANA name, e.g. "Europe/Berlin"; None: UTC
    language: str | None  # one with a catalog ("en", "de"); None: the user's Telegram app's
    digest: Iterable[str] | None  # categories collected into a digest; None: DIGEST's


def _changed(
    current: Preferences, changes: PreferenceChanges, declared: Sequence[Category]
) -> Preferences:
    """`current` with `changes`, checked as the bot checks them: ValueError in one line naming
    what is wrong (a category that is not declared or cannot be muted, an unknown time zone).
    Only the categories given are checked: one the operator has since dropped from CATEGORIES
    may stay in what is stored (the bot ignores it) without blocking other changes."""
    fields: dict[str, Any] = current.model_dump()
    given: dict[str, Any] = dict(changes)
    for name, value in given.items():
        if name in ("muted", "digest") and isinstance(value, str):
            raise ValueError(f"{name}: give a list of category names, not one string")
        fields[name] = frozenset(value) if name in ("muted", "digest") and value else value
    try:
        changed = Preferences.model_validate(fields)
        Preferences.model_validate(
            {name: fields[name] for name in ("muted", "digest") if name in given}
        ).check(declared)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc)) from None
    return changed


def _username(stored: bytes | str | None) -> str:
    name = stored.decode() if isinstance(stored, bytes) else stored
    if not name:
        raise LookupError(
            "the bot's username is unknown: start the bot once (it records it in Redis) "
            "or pass bot_username="
        )
    return name


ClientT = TypeVar("ClientT", redis.Redis, redis.asyncio.Redis)


class _Destinations(Generic[ClientT]):
    """Where notifications go, shared by the sync and the async publisher."""

    def __init__(
        self,
        client: ClientT,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        actions_stream: str = DEFAULT_ACTIONS_STREAM,
        *,
        link_events_stream: str = DEFAULT_LINK_EVENTS_STREAM,
    ) -> None:
        self.client: ClientT = client
        self.channel = channel
        self.stream = stream
        self.stream_maxlen = stream_maxlen
        self.actions_stream = actions_stream
        self.link_events_stream = link_events_stream
        self._mark: str | None = None  # this database's deployment, once a bot claimed it

    def _pubsub(self, via: Via) -> bool:
        """Whether `publish` goes on the channel: asked for, or no stream to go on."""
        if via not in ("stream", "pubsub"):
            raise ValueError(f"via: 'stream' or 'pubsub', not {via!r}")
        if via == "stream" and self.stream:
            return False
        if not self.channel:
            raise ValueError("no channel to publish on (and no stream): give one")
        return True

    def _marked(self, stored_bot_id: Any) -> str | None:
        """The deployment mark for the bot id read from BOT_ID, remembered once known."""
        self._mark = mark_from(stored_bot_id, database_number(self.client))
        return self._mark

    def _add(self, notification: Notification) -> Any:
        """XADD it to the stream of its priority: the entry id (an awaitable of it with the
        async client)."""
        stream = priority_streams(self.stream)[notification.rank]
        return add_to_stream(self.client, stream, _payload(notification), self.stream_maxlen)

    def _link_events(self) -> LinkEvents:
        """Where this publisher's `unlink` reports, capped as the bot caps it."""
        return LinkEvents(self.link_events_stream, self.stream_maxlen)

    def _actions_reading(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> _Reading[ActionEvent]:
        return _Reading(
            self.actions_stream,
            group,
            consumer,
            ActionEvent.from_entry,
            wait=wait,
            stop_after=stop_after,
        )

    def _link_events_reading(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> _Reading[LinkEvent]:
        return _Reading(
            self.link_events_stream,
            group,
            consumer,
            LinkEvent.from_entry,
            wait=wait,
            stop_after=stop_after,
        )


def _is_busy_group(exc: ResponseError) -> bool:
    return str(exc).startswith("BUSYGROUP")


class Publisher(_Destinations[redis.Redis]):
    """Publishes notifications and creates deep links with a blocking `redis.Redis` client.

    `publish` and `enqueue` add to the durable stream: it waits in Redis until a bot delivers
    it, even one started later or after a change of leader. `publish(..., via="pubsub")` is
    fire-and-forget pub/sub: only a bot listening at that moment receives it. `edit`, `delete`,
    `cancel` and `fan_out` always go on the durable stream: they must not be lost.

    The stream is one per priority (`priority_streams`); the bot reads high before normal
    before bulk, and keeps each user's notifications in the order it read them. So an edit or
    delete enqueued after its send, with the same priority, applies after the send.
    """

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_REDIS_URL,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        actions_stream: str = DEFAULT_ACTIONS_STREAM,
        *,
        link_events_stream: str = DEFAULT_LINK_EVENTS_STREAM,
    ) -> Publisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.sync_client(url)
        return cls(
            client,
            channel,
            stream,
            stream_maxlen,
            actions_stream,
            link_events_stream=link_events_stream,
        )

    def publish(
        self, user_id: int, message: str, *, via: Via = "stream", **options: Unpack[Options]
    ) -> Published:
        """Publish one notification.

        Args:
            user_id: the web app's id of the user to notify.
            message: the text, read as `format` says.
            via: "stream" (the default): added to the durable stream of its priority, as
                `enqueue` does; delivered even if no bot runs now or the leader changes.
                "pubsub": PUBLISHed on the channel, marked with this database's deployment
                (`notify:bot_id` and the db number) so bots of other databases of the server
                drop it; only a bot listening now receives it. A publisher made with no stream
                (an empty name) publishes on the channel.
            options: the notification's fields (README: the notification). Besides those of
                the message: `expires_at=` a datetime with a time zone (or an ISO 8601 string
                with one) or Unix seconds, refused if past; or `ttl=` seconds after
                publishing: not sent later. `deliver_at=` a datetime with a time zone (or ISO
                8601 string), or a number of SECONDS FROM NOW (not Unix seconds): held until
                then, at most a year ahead. `priority=` "high", "normal" (default) or "bulk".

        Returns:
            Published, an int: 1 with `entry_id` on the stream; on pub/sub the bots that
            received it (0: lost), `entry_id` None.

        Raises ValueError, one line naming the field, for a notification the bot would refuse.
        """
        notification = _send(user_id, message, options)
        if not self._pubsub(via):
            return Published(1, as_text(self._add(notification)))
        mark = self._mark or self._marked(self.client.get(BOT_ID))
        return Published(int(self.client.publish(self.channel, _payload(notification, mark))))

    def enqueue(self, user_id: int, message: str, **options: Unpack[Options]) -> str:
        """Add one notification to the durable stream of its priority; returns the stream
        entry id. Options as for `publish` (which does the same, returning Published)."""
        return as_text(self._add(_send(user_id, message, options)))

    def edit(
        self, id: str, user_id: int, message: str | None = None, **options: Unpack[EditOptions]
    ) -> str:
        """Change the message(s) sent for notification `id` to `user_id`: a new `message`
        (read as `format` says) and/or `buttons`. `buttons` are those shown afterwards: left
        out, none, as in Telegram; `buttons=[]` without a message removes them and keeps the
        text. Durable (the stream of `priority`, default normal); returns the stream entry id."""
        return as_text(self._add(_edit(id, user_id, message, options)))

    def delete(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        """Delete the message(s) sent for notification `id` to `user_id`. Durable (the stream
        of `priority`, default normal); returns the stream entry id."""
        return as_text(self._add(_delete(id, user_id, priority)))

    def cancel(self, id: str) -> str:
        """Stop notification `id` if not sent yet: one held for its `deliver_at`, or what is
        left of a fan-out. Durable (the normal stream); returns the stream entry id."""
        return as_text(self._add(_cancel(id)))

    def fan_out(
        self,
        user_ids: Sequence[int] | Literal["all"],
        message: str,
        *,
        id: str | None = None,
        receipts: Receipts = "summary",
        **options: Unpack[FanOutOptions],
    ) -> str:
        """One notification to each of `user_ids` (1 to 10,000), or "all" linked users, in one
        stream entry. `id` names the fan-out for `cancel` and its receipts: one at the end
        ("summary") or one per recipient too ("each"). Options as for `publish`; `priority`
        defaults to bulk. Durable; returns the stream entry id."""
        return as_text(self._add(_fan_out(user_ids, message, id, receipts, options)))

    def actions(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[ActionEvent, None, None]:
        """Taps on action buttons, read from the actions stream with the consumer `group`
        (made on first use, from the stream's start). Each web-app process that reads with
        the same group gets a share of the events; give each its own `consumer` name.

        An event is acknowledged when the loop asks for the next one: leaving the loop (break,
        an exception) leaves it pending, and the next call with this consumer name yields it
        again. `stop_after`: stop once no event came for that many seconds (None: never); `wait`:
        how long one read waits for events (at most half the connection's socket timeout)."""
        return self._read(self._actions_reading(group, consumer, wait, stop_after))

    def link_events(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[LinkEvent, None, None]:
        """Chats linked and unlinked (`LinkEvent`: type, user_id, reason, at), read from the
        link events stream exactly as `actions` reads the actions stream: consumer `group`
        made on first use from the stream's start, acknowledged when the loop asks for the
        next one, pending ones yielded first by the next call with this consumer name."""
        return self._read(self._link_events_reading(group, consumer, wait, stop_after))

    def _read(self, reading: _Reading[EventT]) -> Generator[EventT, None, None]:
        try:
            self.client.xgroup_create(reading.stream, reading.group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_busy_group(exc):
                raise
        while reading.going():
            for entry_id, event in reading.took(self.client.xreadgroup(**reading.next_read())):
                if event is not None:
                    yield event
                self.client.xack(reading.stream, reading.group, entry_id)
                reading.acknowledged()

    def create_link(
        self,
        user_id: int,
        *,
        ttl: int = DEFAULT_LINK_TTL,
        bot_username: str | None = None,
        group: bool = False,
    ) -> str:
        """A single-use https://t.me deep link that links the opening chat to `user_id`; with
        `group`, a link that adds the bot to a group the user picks and links that group (an
        administrator of it must open it)."""
        username = bot_username or _username(self.client.get(BOT_USERNAME))
        token = self.create_link_token(user_id, kind="group" if group else "private", ttl=ttl)
        return deep_link(username, token, group=group)

    def create_link_token(
        self, user_id: int, *, kind: ChatKind, ttl: int = DEFAULT_LINK_TTL
    ) -> str:
        """A single-use token that links a chat of `kind` to `user_id`; for a channel, an
        administrator posts `/link <token>` in it (the bot, an administrator there, deletes
        the post and links the channel)."""
        token = new_link_token()
        self.client.set(link_token_key(token), token_value(user_id, kind), ex=ttl)
        return token

    def is_linked(self, user_id: int) -> bool:
        """Whether a Telegram chat is linked to `user_id` (e.g. to show "connected")."""
        return bool(self.client.hexists(USER_CHATS, str(user_id)))

    def chats(self, user_id: int) -> tuple[ChatKind, ...]:
        """The kinds of `user_id`'s chats (private, group, channel), oldest link first."""
        return tuple(chat.kind for chat in decode_chats(self.client.hget(USER_CHATS, str(user_id))))

    def categories(self) -> tuple[Category, ...]:
        """The categories the bot runs with (CATEGORIES), for a settings page; () until a bot
        with CATEGORIES has started on this Redis."""
        return categories_from(self.client.get(CATEGORIES))[0]

    def get_preferences(self, user_id: int) -> Preferences:
        """What `user_id` chose, in the chat or through `set_preferences` (defaults if nothing)."""
        return preferences_from(self.client.hget(PREFERENCES, str(user_id))) or Preferences()

    def set_preferences(self, user_id: int, **changes: Unpack[PreferenceChanges]) -> Preferences:
        """Change some of `user_id`'s preferences, checked against the categories the bot runs
        with (ValueError, nothing changed, when one is not declared or cannot be muted), in one
        transaction with whatever the user changes in the chat at the same moment. Returns
        them as they are now; the chat's /settings shows the same."""
        declared = self.categories()
        result = Preferences()

        def update(pipe: redis.client.Pipeline) -> None:
            nonlocal result
            result = _changed(
                preferences_from(pipe.hget(PREFERENCES, str(user_id))) or Preferences(),
                changes,
                declared,
            )
            pipe.multi()
            _queue_store(pipe, user_id, result)

        self.client.transaction(update, PREFERENCES)
        return result

    def unlink(self, user_id: int) -> bool:
        """Remove all of `user_id`'s chats (e.g. when the account is deleted), with an
        `unlinked` link event each (reason web_app) in the same transaction; False if there
        were none (and no event)."""
        unlinked = False
        events = self._link_events()

        def update(pipe: redis.client.Pipeline) -> None:
            nonlocal unlinked
            chats = decode_chats(pipe.hget(USER_CHATS, str(user_id)))
            pipe.multi()
            unlinked = bool(chats)
            queue_unlink_all(pipe, user_id, chats, events=events, reason="web_app")

        self.client.transaction(update, USER_CHATS, CHAT_TO_USER)
        return unlinked


class AsyncPublisher(_Destinations[redis.asyncio.Redis]):
    """The same as Publisher, for asyncio web apps, with a `redis.asyncio.Redis` client."""

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_REDIS_URL,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        actions_stream: str = DEFAULT_ACTIONS_STREAM,
        *,
        link_events_stream: str = DEFAULT_LINK_EVENTS_STREAM,
    ) -> AsyncPublisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.async_client(url)
        return cls(
            client,
            channel,
            stream,
            stream_maxlen,
            actions_stream,
            link_events_stream=link_events_stream,
        )

    async def publish(
        self, user_id: int, message: str, *, via: Via = "stream", **options: Unpack[Options]
    ) -> Published:
        """Publisher.publish: the durable stream unless via="pubsub"; returns Published."""
        notification = _send(user_id, message, options)
        if not self._pubsub(via):
            return Published(1, as_text(await self._add(notification)))
        mark = self._mark or self._marked(await self.client.get(BOT_ID))
        return Published(int(await self.client.publish(self.channel, _payload(notification, mark))))

    async def enqueue(self, user_id: int, message: str, **options: Unpack[Options]) -> str:
        """Publisher.enqueue: returns the stream entry id."""
        return as_text(await self._add(_send(user_id, message, options)))

    async def edit(
        self, id: str, user_id: int, message: str | None = None, **options: Unpack[EditOptions]
    ) -> str:
        """Publisher.edit: returns the stream entry id."""
        return as_text(await self._add(_edit(id, user_id, message, options)))

    async def delete(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        """Publisher.delete: returns the stream entry id."""
        return as_text(await self._add(_delete(id, user_id, priority)))

    async def cancel(self, id: str) -> str:
        """Publisher.cancel: returns the stream entry id."""
        return as_text(await self._add(_cancel(id)))

    async def fan_out(
        self,
        user_ids: Sequence[int] | Literal["all"],
        message: str,
        *,
        id: str | None = None,
        receipts: Receipts = "summary",
        **options: Unpack[FanOutOptions],
    ) -> str:
        """Publisher.fan_out: returns the stream entry id."""
        return as_text(await self._add(_fan_out(user_ids, message, id, receipts, options)))

    def actions(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[ActionEvent, None]:
        """Publisher.actions for asyncio: `async for event in notifier.actions("shop"): ...`"""
        return self._read(self._actions_reading(group, consumer, wait, stop_after))

    def link_events(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[LinkEvent, None]:
        """Publisher.link_events for asyncio: `async for event in notifier.link_events(...)`"""
        return self._read(self._link_events_reading(group, consumer, wait, stop_after))

    async def _read(self, reading: _Reading[EventT]) -> AsyncGenerator[EventT, None]:
        try:
            await self.client.xgroup_create(reading.stream, reading.group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_busy_group(exc):
                raise
        while reading.going():
            reply = await self.client.xreadgroup(**reading.next_read())
            for entry_id, event in reading.took(reply):
                if event is not None:
                    yield event
                await self.client.xack(reading.stream, reading.group, entry_id)
                reading.acknowledged()

    async def create_link(
        self,
        user_id: int,
        *,
        ttl: int = DEFAULT_LINK_TTL,
        bot_username: str | None = None,
        group: bool = False,
    ) -> str:
        """Publisher.create_link."""
        username = bot_username or _username(await self.client.get(BOT_USERNAME))
        token = await self.create_link_token(user_id, kind="group" if group else "private", ttl=ttl)
        return deep_link(username, token, group=group)

    async def create_link_token(
        self, user_id: int, *, kind: ChatKind, ttl: int = DEFAULT_LINK_TTL
    ) -> str:
        """Publisher.create_link_token."""
        return await self._registry().create_link_token(user_id, ttl, kind)

    async def is_linked(self, user_id: int) -> bool:
        """Whether a Telegram chat is linked to `user_id` (e.g. to show "connected")."""
        return bool(await self.client.hexists(USER_CHATS, str(user_id)))

    async def chats(self, user_id: int) -> tuple[ChatKind, ...]:
        """Publisher.chats."""
        return tuple(chat.kind for chat in await self._registry().chats_for(user_id))

    async def categories(self) -> tuple[Category, ...]:
        """Publisher.categories."""
        return categories_from(await self.client.get(CATEGORIES))[0]

    async def get_preferences(self, user_id: int) -> Preferences:
        """Publisher.get_preferences."""
        return await PreferenceStore(self.client).get(user_id)

    async def set_preferences(
        self, user_id: int, **changes: Unpack[PreferenceChanges]
    ) -> Preferences:
        """Publisher.set_preferences."""
        declared = await self.categories()
        return await PreferenceStore(self.client).update(
            user_id, lambda current: _changed(current, changes, declared)
        )

    async def unlink(self, user_id: int) -> bool:
        """Publisher.unlink: False if none was linked (and no event)."""
        return bool(await self._registry().unlink_user(user_id, reason="web_app"))

    def _registry(self) -> ChatRegistry:
        return ChatRegistry(self.client, self._link_events())


def _queue_store(pipe: redis.client.Pipeline, user_id: int, preferences: Preferences) -> None:
    if preferences == Preferences():
        pipe.hdel(PREFERENCES, str(user_id))
    else:
        pipe.hset(PREFERENCES, str(user_id), preferences.stored())
