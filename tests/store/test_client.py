"""Redis connections from a URL: TCP, TLS options, and a unix socket."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import redis.asyncio

from bot.config.settings import Settings
from bot.store.client import async_client, connection_options, sync_client
from bot.testing import FakeTelegram
from bot.tools.redis_server import RedisServer
from tests.bots import start_bot
from tests.helpers import link_chat, wait_sent


def test_tcp_only_options_are_not_given_to_a_unix_socket() -> None:
    assert connection_options("redis://localhost:6379/0")["socket_keepalive"] is True
    assert "socket_keepalive" not in connection_options("unix:///run/redis.sock")
    assert connection_options("rediss://h:6380/0", "none")["ssl_cert_reqs"] == "none"


async def test_the_bot_runs_and_publishes_over_a_unix_socket(
    unix_redis: RedisServer, telegram: FakeTelegram, settings: Settings
) -> None:
    """REDIS_URL=unix:///path, as the README documents: the bot, the publisher and the CLI."""
    config = settings.model_copy(update={"redis_url": unix_redis.url})
    running = await start_bot(config)
    client = async_client(unix_redis.url)
    try:
        await link_chat(telegram, client, user_id=42, chat_id=9001)
        sync = sync_client(unix_redis.url)
        try:
            assert sync.ping()
        finally:
            sync.close()
        env = {
            "REDIS_URL": unix_redis.url,
            "NOTIFICATION_CHANNEL": config.notification_channel,
            "NOTIFICATION_STREAM": config.notification_stream,
        }
        published = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "publish", "42", "over a socket"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert published.returncode == 0, published.stderr
        assert published.stdout.startswith(f"queued on stream {config.notification_stream}: ")
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "over a socket")
    finally:
        await client.aclose()
        await running.shutdown()


async def test_an_async_client_for_a_unix_socket_answers(unix_redis: RedisServer) -> None:
    client: redis.asyncio.Redis = async_client(unix_redis.url, max_connections=4)
    async with client:
        assert await client.ping()
