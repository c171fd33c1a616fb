"""What a web app imports to publish notifications and make deep links (sync and async).

    from bot.publisher import Publisher
    notifier = Publisher.from_url("redis://localhost:6379/0")
    notifier.publish(42, "Your order is on its way!")
    notifier.create_link(42)   # -> "https://t.me/<bot>?start=<token>"

The wire format is plain JSON on a pub/sub channel, so publishing needs nothing from this
package: ``redis.Redis().publish("notification", json.dumps({"user_id": 42, "message": "hi"}))``.
"""

from __future__ import annotations

import json
from typing import Generic, TypeVar

import redis
import redis.asyncio
import redis.client
from pydantic import ValidationError

from bot.notification import Notification, describe_errors
from bot.store import client as redis_client
from bot.store.client import add_to_stream, as_text
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


def encode(user_id: int, message: str, notification_id: str | None = None) -> str:
    """The JSON payload for one notification; raises ValueError naming what is wrong."""
    try:
        notification = Notification(user_id=user_id, message=message, id=notification_id)
    except ValidationError as exc:
        raise ValueError(f"invalid notification: {describe_errors(exc)}") from None
    return json.dumps(notification.model_dump(exclude_none=True), ensure_ascii=False)


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
    ) -> None:
        self.client: ClientT = client
        self.channel = channel
        self.stream = stream
        self.stream_maxlen = stream_maxlen


class Publisher(_Destinations[redis.Redis]):
    """Publishes notifications and creates deep links with a blocking `redis.Redis` client.

    `publish` is fire-and-forget pub/sub: only a running bot receives it. `enqueue` adds to the
    durable stream: it waits in Redis until a bot delivers it, even one started later.
    """

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_REDIS_URL,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
    ) -> Publisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.sync_client(url)
        return cls(client, channel, stream, stream_maxlen)

    def publish(self, user_id: int, message: str, *, id: str | None = None) -> int:
        """Publish one notification; returns how many subscribers (bots) received it."""
        return int(self.client.publish(self.channel, encode(user_id, message, id)))

    def enqueue(self, user_id: int, message: str, *, id: str | None = None) -> str:
        """Add one notification to the durable stream; returns the stream entry id."""
        entry = add_to_stream(
            self.client, self.stream, encode(user_id, message, id), self.stream_maxlen
        )
        return as_text(entry)

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
    ) -> AsyncPublisher:
        """A publisher with a connection of its own to `url`."""
        client = redis_client.async_client(url)
        return cls(client, channel, stream, stream_maxlen)

    async def publish(self, user_id: int, message: str, *, id: str | None = None) -> int:
        """Publish one notification; returns how many subscribers (bots) received it."""
        return int(await self.client.publish(self.channel, encode(user_id, message, id)))

    async def enqueue(self, user_id: int, message: str, *, id: str | None = None) -> str:
        """Add one notification to the durable stream; returns the stream entry id."""
        entry = await add_to_stream(
            self.client, self.stream, encode(user_id, message, id), self.stream_maxlen
        )
        return as_text(entry)

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
