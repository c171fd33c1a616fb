"""What /metrics reads from Redis when it is scraped (the streams' backlog per priority, the live
instances), so that nothing on the send path has to keep these numbers up to date."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio
from redis.exceptions import ResponseError

from bot.store.client import as_text, priority_streams

PRIORITIES = ("high", "normal", "bulk")  # in the order of bot.store.client.priority_streams


@dataclass(frozen=True)
class StreamBacklog:
    """One priority's stream as the consumer group sees it."""

    pending: int  # read by some instance, not yet acknowledged (settled)
    unread: int | None  # not yet read by any instance; None when Redis cannot tell (see below)


@dataclass(frozen=True)
class Readings:
    """One scrape's look at Redis. `redis_up` False: it did not answer in time, and what would
    have come from it is left out (None), not shown stale."""

    memory: int  # notifications this process holds
    redis_up: bool
    streams: dict[str, StreamBacklog] | None = field(default=None)  # by priority
    instances: int | None = None


async def stream_backlog(
    client: redis.asyncio.Redis, stream: str, group: str
) -> dict[str, StreamBacklog]:
    """Each priority's backlog, in one round trip (XLEN and XINFO GROUPS per stream).

    `unread` is the group's `lag` (Redis 7): Redis cannot tell it after entries were deleted
    from the middle of the stream, nor before Redis 7, and then it is None. Before the group
    exists nothing was read: every entry is unread. A stream that does not exist has none; a
    key of another type in its place is left out (its consumer reports it)."""
    names = priority_streams(stream)
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.xlen(name)
        pipe.xinfo_groups(name)
    replies = await pipe.execute(raise_on_error=False)
    backlog = {}
    for priority, length, groups in zip(PRIORITIES, replies[::2], replies[1::2], strict=True):
        if isinstance(length, ResponseError):  # not a stream (WRONGTYPE): nothing to count
            continue
        if isinstance(length, Exception):
            raise length
        if isinstance(groups, Exception) and not isinstance(groups, ResponseError):
            raise groups
        # A ResponseError: no such key, the stream was never written (XLEN said 0).
        listed = [] if isinstance(groups, ResponseError) else groups
        ours = [g for g in listed if as_text(g["name"]) == group]
        if not ours:
            backlog[priority] = StreamBacklog(pending=0, unread=int(length))
            continue
        lag = ours[0].get("lag")
        backlog[priority] = StreamBacklog(
            pending=int(ours[0]["pending"]), unread=None if lag is None else int(lag)
        )
    return backlog
