"""`AsyncPublisher`: the operations with an asyncio `redis.asyncio.Redis` client (FastAPI, aiohttp,
Django's async views)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, Unpack

import redis.asyncio

from bot.notification.schema import REMIND_MIN_SECONDS, ChatKind, Priority
from bot.preferences import Category, Preferences
from bot.publisher import payloads
from bot.publisher.blocking import Publisher
from bot.publisher.events import EVENTS_WAIT, ActionEvent, FeedbackEvent, LinkEvent
from bot.publisher.manifest import Template
from bot.publisher.operations import (
    DEFAULT_ACTIONS_STREAM,
    DEFAULT_CHANNEL,
    DEFAULT_FEEDBACK_STREAM,
    DEFAULT_LINK_TTL,
    DEFAULT_REDIS_URL,
    DEFAULT_STREAM,
    DEFAULT_STREAM_MAXLEN,
    Operations,
)
from bot.publisher.options import (
    EditOptions,
    FanOutOptions,
    Options,
    PreferenceChanges,
    Receipts,
    Via,
)
from bot.publisher.payloads import Published
from bot.store import client as redis_client
from bot.store.link_events import DEFAULT_STREAM as DEFAULT_LINK_EVENTS_STREAM
from bot.store.plans import feed_async, run_async

C = TypeVar("C", bound=type)


def _documented_as(source: type) -> Callable[[C], C]:
    """Give the methods of the decorated class that have no docstring `source`'s of the same
    name: the asyncio facade documents nothing twice."""

    def document(cls: C) -> C:
        for name, member in vars(cls).items():
            function = getattr(member, "__func__", member)
            if name.startswith("_") or not callable(function) or function.__doc__:
                continue
            original = getattr(source, name)
            function.__doc__ = getattr(original, "__func__", original).__doc__
        return cls

    return document


@_documented_as(Publisher)
class AsyncPublisher(Operations[redis.asyncio.Redis]):
    """The same as `Publisher`, for asyncio web apps, with a `redis.asyncio.Redis` client:
    `await notifier.publish(42, "hi")`, `async for event in notifier.actions("shop")`."""

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
        feedback_stream: str = DEFAULT_FEEDBACK_STREAM,
        remind_min_seconds: int = REMIND_MIN_SECONDS,
    ) -> AsyncPublisher:
        return cls(
            redis_client.async_client(url),
            channel,
            stream,
            stream_maxlen,
            actions_stream,
            link_events_stream=link_events_stream,
            feedback_stream=feedback_stream,
            remind_min_seconds=remind_min_seconds,
        )

    async def publish(
        self,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        via: Via = "stream",
        **options: Unpack[Options],
    ) -> Published:
        notification = payloads.send(
            user_id,
            message,
            options,
            template=template,
            data=data,
            remind_min_seconds=self.remind_min_seconds,
        )
        return await run_async(self.client, self._publish(notification, via))

    async def enqueue(
        self,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        **options: Unpack[Options],
    ) -> str:
        notification = payloads.send(
            user_id,
            message,
            options,
            template=template,
            data=data,
            remind_min_seconds=self.remind_min_seconds,
        )
        return await run_async(self.client, self._add(notification))

    async def edit(
        self,
        id: str,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        **options: Unpack[EditOptions],
    ) -> str:
        notification = payloads.edit(id, user_id, message, options, template=template, data=data)
        return await run_async(self.client, self._add(notification))

    async def delete(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        return await run_async(self.client, self._add(payloads.delete(id, user_id, priority)))

    async def cancel(self, id: str) -> str:
        return await run_async(self.client, self._add(payloads.cancel(id)))

    async def ack(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        return await run_async(self.client, self._ack(payloads.ack(id, user_id, priority)))

    async def fan_out(
        self,
        user_ids: Sequence[int] | Literal["all"],
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        id: str | None = None,
        receipts: Receipts = "summary",
        **options: Unpack[FanOutOptions],
    ) -> str:
        notification = payloads.fan_out(
            user_ids, message, id, receipts, options, template=template, data=data
        )
        return await run_async(self.client, self._add(notification))

    def actions(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[ActionEvent, None]:
        return feed_async(self.client, self._actions(group, consumer, wait, stop_after))

    def link_events(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[LinkEvent, None]:
        return feed_async(self.client, self._link_events(group, consumer, wait, stop_after))

    def feedback(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> AsyncGenerator[FeedbackEvent, None]:
        return feed_async(self.client, self._feedback(group, consumer, wait, stop_after))

    async def create_link(
        self,
        user_id: int,
        *,
        ttl: int = DEFAULT_LINK_TTL,
        bot_username: str | None = None,
        group: bool = False,
    ) -> str:
        return await run_async(self.client, self._create_link(user_id, ttl, bot_username, group))

    async def create_link_token(
        self, user_id: int, *, kind: ChatKind, ttl: int = DEFAULT_LINK_TTL
    ) -> str:
        return await run_async(self.client, self._create_link_token(user_id, kind, ttl))

    async def is_linked(self, user_id: int) -> bool:
        return await run_async(self.client, self._is_linked(user_id))

    async def chats(self, user_id: int) -> tuple[ChatKind, ...]:
        return await run_async(self.client, self._chats(user_id))

    async def categories(self) -> tuple[Category, ...]:
        return await run_async(self.client, self._categories())

    async def templates(self) -> Mapping[str, Template]:
        return await run_async(self.client, self._templates())

    async def get_preferences(self, user_id: int) -> Preferences:
        return await run_async(self.client, self._get_preferences(user_id))

    async def set_preferences(
        self, user_id: int, **changes: Unpack[PreferenceChanges]
    ) -> Preferences:
        return await run_async(self.client, self._set_preferences(user_id, changes))

    async def unlink(self, user_id: int) -> bool:
        return await run_async(self.client, self._unlink(user_id))
