"""What a web app imports to publish notifications and make deep links (sync and async).

    from bot.publisher import Publisher
    notifier = Publisher.from_url("redis://localhost:6379/0")
    notifier.publish(42, "Your order is on its way!")
    notifier.publish(42, "<b>Order #17</b> has shipped", format="html",
                     buttons=[[Button.url("Track parcel", "https://shop.example/t/17")],
                              [Button.action("Received it", "order-17:received")]])
    notifier.enqueue(42, "Your code: 1234", priority="high", ttl=300)
    notifier.edit("order-17", 42, "<b>Order #17</b> was delivered", format="html")
    notifier.fan_out([42, 43, 44], "The sale starts now", id="sale-1")
    notifier.create_link(42)   # -> "https://t.me/<bot>?start=<token>"
    for event in notifier.actions(group="shop"):   # taps on action buttons
        handle(event.action, event.user_id)          # acknowledged when the loop goes on

The wire format is plain JSON on a pub/sub channel, so publishing needs nothing from this
package: ``redis.Redis().publish("notification", json.dumps({"user_id": 42, "message": "hi"}))``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar, Unpack

import redis
import redis.asyncio
import redis.client
from pydantic import ValidationError
from redis.exceptions import ResponseError

from bot.notification import Format, Notification, Priority, describe_errors
from bot.store import client as redis_client
from bot.store.client import PAYLOAD_FIELD, add_to_stream, as_text, priority_streams
from bot.store.registry import (
    BOT_USERNAME,
    CHAT_TO_USER,
    USER_TO_CHAT,
    ChatRegistry,
    deep_link,
    link_token_key,
    new_link_token,
    queue_unlink,
)

DEFAULT_CHANNEL = "notification"
DEFAULT_STREAM = "notifications"
DEFAULT_STREAM_MAXLEN = 100_000
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_LINK_TTL = 24 * 3600
DEFAULT_ACTIONS_STREAM = "notification:actions"
ACTIONS_WAIT = 1.0  # seconds one read of the actions stream blocks: below the socket timeout
MAX_ACTIONS_WAIT = redis_client.SOCKET_TIMEOUT / 2


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


def _payload(notification: Notification) -> str:
    data = notification.model_dump(exclude_defaults=True, exclude_none=True)
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

    @classmethod
    def from_entry(cls, entry_id: bytes | str, fields: dict[Any, Any]) -> ActionEvent | None:
        raw = fields.get(PAYLOAD_FIELD.encode(), fields.get(PAYLOAD_FIELD))
        try:
            data = json.loads(raw or b"")
            return cls(
                action=str(data["action"]),
                user_id=int(data["user_id"]),
                id=data.get("id"),
                chat_id=int(data["chat_id"]),
                message_id=data.get("message_id"),
                at=str(data["at"]),
                entry_id=as_text(entry_id),
            )
        except (TypeError, ValueError, KeyError):
            return None  # not an event of ours: skipped (and acknowledged)


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
    ) -> None:
        self.client: ClientT = client
        self.channel = channel
        self.stream = stream
        self.stream_maxlen = stream_maxlen
        self.actions_stream = actions_stream

    def _add(self, notification: Notification) -> Any:
        """XADD it to the stream of its priority: the entry id (an awaitable of it with the
        async client)."""
        stream = priority_streams(self.stream)[notification.rank]
        return add_to_stream(self.client, stream, _payload(notification), self.stream_maxlen)

    def _read_actions(self, group: str, consumer: str, pending: bool, wait: float) -> Any:
        """One XREADGROUP: this consumer's unacknowledged entries first (a loop left early),
        then new ones, waiting up to `wait` seconds."""
        return self.client.xreadgroup(
            group,
            consumer,
            {self.actions_stream: "0" if pending else ">"},
            count=1,  # one at a time: an event not handled yet stays free for the others
            block=None if pending else max(1, int(wait * 1000)),  # BLOCK 0 waits for ever
        )


def _check_wait(wait: float) -> None:
    # A read that blocks past the connection's socket timeout fails instead of returning.
    if not 0 < wait <= MAX_ACTIONS_WAIT:
        raise ValueError(f"wait must be over 0 and at most {MAX_ACTIONS_WAIT:g} seconds")


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    return list(reply[0][1]) if reply else []


def _is_busy_group(exc: ResponseError) -> bool:
    return str(exc).startswith("BUSYGROUP")


class Publisher(_Destinations[redis.Redis]):
    """Publishes notifications and creates deep links with a blocking `redis.Redis` client.

    `publish` is fire-and-forget pub/sub: only a running bot receives it. `enqueue` adds to the
    durable stream: it waits in Redis until a bot delivers it, even one started later. `edit`,
    `delete`, `cancel` and `fan_out` always go on the durable stream: they must not be lost.

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
    ) -> Publisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.sync_client(url)
        return cls(client, channel, stream, stream_maxlen, actions_stream)

    def publish(self, user_id: int, message: str, **options: Unpack[Options]) -> int:
        """Publish one notification; returns how many subscribers (bots) received it.

        `options` are the notification's fields (README: the notification). Besides those of
        the message: `expires_at=` a datetime with a time zone (or an ISO 8601 string with
        one) or Unix seconds, refused if past; or `ttl=` seconds after publishing: not sent
        later. `deliver_at=` a datetime with a time zone (or ISO 8601 string), or a number of
        SECONDS FROM NOW (not Unix seconds): held until then, at most a year ahead.
        `priority=` "high", "normal" (default) or "bulk". Raises ValueError, one line naming
        the field, for a notification the bot would refuse."""
        return int(self.client.publish(self.channel, encode(user_id, message, **options)))

    def enqueue(self, user_id: int, message: str, **options: Unpack[Options]) -> str:
        """Add one notification to the durable stream of its priority; returns the stream
        entry id. Options as for `publish`."""
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
        wait: float = ACTIONS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[ActionEvent, None, None]:
        """Taps on action buttons, read from the actions stream with the consumer `group`
        (made on first use, from the stream's start). Each web-app process that reads with
        the same group gets a share of the events; give each its own `consumer` name.

        An event is acknowledged when the loop asks for the next one: leaving the loop (break,
        an exception) leaves it pending, and the next call with this consumer name yields it
        again. `stop_after`: stop once no event came for that many seconds (None: never); `wait`:
        how long one read waits for events (at most half the connection's socket timeout)."""
        _check_wait(wait)  # here, not when the loop starts
        return self._actions(group, consumer, wait, stop_after)

    def _actions(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> Generator[ActionEvent, None, None]:
        try:
            self.client.xgroup_create(self.actions_stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_busy_group(exc):
                raise
        pending, quiet_since = True, time.monotonic()
        while stop_after is None or time.monotonic() - quiet_since < stop_after:
            entries = _entries(self._read_actions(group, consumer, pending, wait))
            if pending and not entries:
                pending = False
                continue
            for entry_id, fields in entries:
                event = ActionEvent.from_entry(entry_id, fields)
                if event is not None:
                    yield event
                self.client.xack(self.actions_stream, group, entry_id)
                quiet_since = time.monotonic()

    def create_link(
        self, user_id: int, *, ttl: int = DEFAULT_LINK_TTL, bot_username: str | None = None
    ) -> str:
        """A single-use https://t.me deep link that links the opening chat to `user_id`."""
        username = bot_username or _username(self.client.get(BOT_USERNAME))
        token = new_link_token()
        self.client.set(link_token_key(token), str(user_id), ex=ttl)
        return deep_link(username, token)

    def is_linked(self, user_id: int) -> bool:
        """Whether a Telegram chat is linked to `user_id` (e.g. to show "connected")."""
        return bool(self.client.hexists(USER_TO_CHAT, str(user_id)))

    def unlink(self, user_id: int) -> bool:
        """Remove `user_id`'s link (e.g. when the account is deleted); False if none."""
        unlinked = False

        def update(pipe: redis.client.Pipeline) -> None:
            nonlocal unlinked
            chat = pipe.hget(USER_TO_CHAT, str(user_id))
            pipe.multi()
            if chat is not None:
                queue_unlink(pipe, user_id, int(chat))
                unlinked = True

        self.client.transaction(update, USER_TO_CHAT, CHAT_TO_USER)
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
    ) -> AsyncPublisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.async_client(url)
        return cls(client, channel, stream, stream_maxlen, actions_stream)

    async def publish(self, user_id: int, message: str, **options: Unpack[Options]) -> int:
        """Publisher.publish: returns how many subscribers (bots) received it."""
        return int(await self.client.publish(self.channel, encode(user_id, message, **options)))

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
        wait: float = ACTIONS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[ActionEvent, None]:
        """Publisher.actions for asyncio: `async for event in notifier.actions("shop"): ...`"""
        _check_wait(wait)  # here, not when the loop starts
        return self._actions(group, consumer, wait, stop_after)

    async def _actions(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> AsyncGenerator[ActionEvent, None]:
        try:
            await self.client.xgroup_create(self.actions_stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_busy_group(exc):
                raise
        pending, quiet_since = True, time.monotonic()
        while stop_after is None or time.monotonic() - quiet_since < stop_after:
            entries = _entries(await self._read_actions(group, consumer, pending, wait))
            if pending and not entries:
                pending = False
                continue
            for entry_id, fields in entries:
                event = ActionEvent.from_entry(entry_id, fields)
                if event is not None:
                    yield event
                await self.client.xack(self.actions_stream, group, entry_id)
                quiet_since = time.monotonic()

    async def create_link(
        self, user_id: int, *, ttl: int = DEFAULT_LINK_TTL, bot_username: str | None = None
    ) -> str:
        """A single-use https://t.me deep link that links the opening chat to `user_id`."""
        username = bot_username or _username(await self.client.get(BOT_USERNAME))
        token = await ChatRegistry(self.client).create_link_token(user_id, ttl)
        return deep_link(username, token)

    async def is_linked(self, user_id: int) -> bool:
        """Whether a Telegram chat is linked to `user_id` (e.g. to show "connected")."""
        return bool(await self.client.hexists(USER_TO_CHAT, str(user_id)))

    async def unlink(self, user_id: int) -> bool:
        """Remove `user_id`'s link (e.g. when the account is deleted); False if none."""
        return await ChatRegistry(self.client).unlink_user(user_id) is not None
