"""Digest lists in Redis: bounded, and the rest of an early flush not left for days."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio

from bot.pipeline.digest import digest_text
from bot.store.digests import (
    DIGEST_MAX_LINES,
    digest_key,
    dropped_key,
    queue_digest_add,
    queue_digest_done,
    queue_digest_read,
)
from bot.store.schedule import SCHEDULED

USER, CATEGORY = 42, "news"
WEEK = 7 * 24 * 3600


async def _flushes(client: redis.asyncio.Redis) -> list[tuple[Any, float]]:
    flushes: Any = await client.zrange(SCHEDULED, 0, -1, withscores=True)
    return [(member, float(score)) for member, score in flushes]


async def _add(client: redis.asyncio.Redis, count: int, flush_at: float) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            queue_digest_add(pipe, USER, CATEGORY, f"story {n}", flush_at)
        await pipe.execute()


async def test_a_full_digest_counts_what_it_does_not_keep_and_the_flush_says_so(
    redis_client: redis.asyncio.Redis,
) -> None:
    """20,000 lines flushed as ~1,000 messages (17 minutes of one chat's pace), and every flush
    read them all (LRANGE 0 -1: 119 MB in 30 s)."""
    await _add(redis_client, DIGEST_MAX_LINES + 50, time.time() + WEEK)
    assert await redis_client.llen(digest_key(USER, CATEGORY)) == DIGEST_MAX_LINES
    async with redis_client.pipeline(transaction=False) as pipe:
        queue_digest_read(pipe, USER, CATEGORY)
        lines, dropped = await pipe.execute()
    text, used = digest_text("News", [line.decode() for line in lines], int(dropped))
    assert text.startswith("📬 News (250)\n(50 more not kept: a digest keeps 200 lines)\n• story 0")
    async with redis_client.pipeline(transaction=False) as pipe:
        queue_digest_done(pipe, USER, CATEGORY, used, time.time() + 1, dropped_said=50)
        await pipe.execute()
    assert await redis_client.exists(dropped_key(USER, CATEGORY)) == 0  # said once
    assert await redis_client.llen(digest_key(USER, CATEGORY)) == DIGEST_MAX_LINES - used


async def test_what_an_early_flush_leaves_goes_a_second_later_not_at_the_windows_end(
    redis_client: redis.asyncio.Redis,
) -> None:
    """An `op: digest` published early sent what fit one message and left the rest for the
    flush already scheduled at the window's end, 7 days later."""
    await _add(redis_client, 40, time.time() + WEEK)
    [(_, due_ms)] = await _flushes(redis_client)
    assert due_ms > (time.time() + WEEK - 60) * 1000
    soon = time.time() + 1
    async with redis_client.pipeline(transaction=False) as pipe:
        queue_digest_done(pipe, USER, CATEGORY, 20, soon)
        await pipe.execute()
    [(_, due_ms)] = await _flushes(redis_client)
    assert due_ms == round(soon * 1000)
