"""The Redis the bench brings: a redis-server process of its own when one is installed."""

from __future__ import annotations

import shutil

import pytest
import redis

from bot.tools.scratch import scratch_redis


def test_the_bench_redis_is_a_server_of_its_own_and_is_gone_afterwards() -> None:
    with scratch_redis(None, "bench", server=True) as url:
        client = redis.Redis.from_url(url)
        try:
            client.set("k", "v")
            assert client.get("k") == b"v"
            if shutil.which("redis-server"):  # a real server, not fakeredis (it has no INFO)
                assert "redis_version" in client.info("server")
        finally:
            client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
