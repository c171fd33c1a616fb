"""The streams' consumers, one per priority (high, normal, bulk): each has its own in-flight
limit, so a bulk backlog read into memory never stops a high notification from being read."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio

from bot.config.settings import Settings
from bot.sources.stream import MayTake, StreamConsumer, Submit
from bot.store.client import priority_streams


def priority_consumers(
    settings: Settings,
    client: redis.asyncio.Redis,
    submit: Submit,
    *,
    may_take: MayTake,
    on_reconnect: Callable[[], None],
) -> list[StreamConsumer]:
    """A consumer of each priority's stream, high first; none without NOTIFICATION_STREAM. The
    normal one reads the name a web app XADDs to, and moves entries that name another priority
    to that priority's stream."""
    if not settings.notification_stream:
        return []
    names = priority_streams(settings.notification_stream)
    return [
        StreamConsumer(
            client,
            name,
            settings.stream_group,
            settings.stream_consumer,
            submit,
            may_take=may_take,
            on_reconnect=on_reconnect,
            rank=rank,
            moves=names if rank == 1 else None,
            maxlen=settings.stream_maxlen,
        )
        for rank, name in enumerate(names)
    ]
