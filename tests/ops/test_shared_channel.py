"""The hourly look for other deployments on the channel name: cancellable, patient with Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.ops.shared_channel import SharedChannelWatch
from bot.tools.redis_server import RedisServer
from tests.waiting import eventually


async def test_it_backs_off_while_redis_is_down_and_says_when_it_is_back(
    channel: str, own_redis: RedisServer
) -> None:
    client = redis.asyncio.Redis.from_url(own_redis.url, socket_connect_timeout=1)
    watch = SharedChannelWatch(client, channel, "111", backoff_base=0.01)
    try:
        with capture_logs() as logs:
            task = asyncio.create_task(watch.run())  # Redis is not started yet
            await eventually(
                lambda: sum(e["event"] == "channel_check_unavailable" for e in logs) >= 3
            )
            own_redis.start()
            await asyncio.wait_for(watch.checked.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await client.aclose()
    attempts = [e["attempt"] for e in logs if e["event"] == "channel_check_unavailable"]
    assert attempts[:3] == [1, 2, 3]
    [recovered] = [e for e in logs if e["event"] == "channel_check_recovered"]
    assert recovered["attempts"] == attempts[-1]
    assert watch.others == ()
    assert not any(e["event"] == "channel_shared" for e in logs)  # alone on its channel
