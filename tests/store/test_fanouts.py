"""A fan-out's bookkeeping on fakeredis: each recipient counted once, nothing after the end."""

from __future__ import annotations

import redis.asyncio

from bot.store import fanouts
from bot.store.fanouts import FanOutStore


async def test_a_recipient_settled_twice_is_counted_once_and_none_after_the_end(
    fake_redis: redis.asyncio.Redis,
) -> None:
    """Two instances may settle one recipient (a takeover while it was in flight): the
    summary counts it once; a settle after the summary went out changes nothing."""
    store = FanOutStore(fake_redis, "worker.1")
    assert await store.create("news-1", '{"message": "hi"}', [1, 2, 3])
    for bucket in ("sent", "sent", "failed"):
        async with fake_redis.pipeline(transaction=False) as pipe:
            fanouts.queue_settled(pipe, "news-1", 0, bucket)
            await pipe.execute()
    job = await store.load("news-1")
    assert job is not None
    assert job.counts["sent"] == 1
    assert job.counts["failed"] == 0
    summary = await store.finish("news-1", "", cancelled=0)
    assert summary["sent"] == 1
    async with fake_redis.pipeline(transaction=False) as pipe:
        fanouts.queue_settled(pipe, "news-1", 1, "sent")
        await pipe.execute()
    assert await fake_redis.exists("notify:fanout:news-1:settled") == 0
    done = await store.load("news-1")
    assert done is not None
    assert done.counts["sent"] == 1
