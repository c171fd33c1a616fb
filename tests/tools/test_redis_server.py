"""The tests' and the bench's own redis-server: what a durable one keeps, pausing, stopping."""

from __future__ import annotations

import pytest
import redis

from bot.tools.redis_server import RedisServer


def test_a_durable_server_killed_and_started_again_has_its_data_on_the_same_url(
    own_redis: RedisServer,
) -> None:
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url, socket_connect_timeout=1)
    try:
        client.set("k", "v")
        own_redis.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        own_redis.start()
        assert client.get("k") == b"v"
    finally:
        client.close()


def test_a_paused_server_keeps_connections_open_but_answers_only_once_resumed(
    own_redis: RedisServer,
) -> None:
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url, socket_timeout=0.2)
    try:
        assert client.ping()
        own_redis.pause()
        with pytest.raises(redis.TimeoutError):
            client.ping()
        own_redis.resume()
        assert client.ping()
    finally:
        client.close()


def test_a_paused_server_can_still_be_killed(own_redis: RedisServer) -> None:
    own_redis.start()
    own_redis.pause()
    own_redis.kill()
    assert not own_redis.running
    with pytest.raises(redis.ConnectionError):  # gone, not merely paused
        redis.Redis.from_url(own_redis.url, socket_timeout=1).ping()
