"""Shared fixtures: real Redis (or a clear skip), fakeredis, the Bot API emulator, a running bot."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fakeredis
import pytest
import redis
import redis.asyncio
import structlog

from bot.config.settings import Settings
from bot.store.deployment import BOT_ID
from bot.testing import DEFAULT_TOKEN, FakeTelegram
from bot.tools import redis_server
from bot.tools.redis_server import RedisServer
from tests.bots import RunningBot, start_bot
from tests.isolation import TEST_REDIS_URL, channel_name

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The TIMING tests last (pyproject's --no-loadscope-reorder keeps this order): pytest-xdist
    hands their group out once every other test has been, so they run while the other workers
    are done, not beside them (one busy worker beside a timing one made a test fail per run)."""
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is not None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A TIMING test that pytest-xdist's --dist loadgroup did not group fails: it would run
    beside the others without a word (it happened: pytest-xdist#1386)."""
    grouping = getattr(item.config.option, "loadgroup", False)  # set in workers only
    if grouping and item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
        pytest.fail("--dist loadgroup did not group this test (see pytest-xdist#1386)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the integration tests use; skipped when absent, except in CI."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = (
            f"needs Redis at {TEST_REDIS_URL} ({exc}); start redis-server or set TEST_REDIS_URL"
        )
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client on the emptied test database."""
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def fake_redis() -> AsyncIterator[redis.asyncio.Redis]:
    client = fakeredis.FakeAsyncRedis()
    yield client
    await client.aclose()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    """The Bot API emulator, as a bot of its own: the Redis keys named after the bot id (the
    leader lock, the senders) are then this test's alone, whatever earlier tests left."""
    bot_id = random.randint(10**8, 10**9 - 1)  # noqa: S311 - an id, not a secret
    with FakeTelegram(f"{bot_id}:{DEFAULT_TOKEN.split(':', 1)[1]}") as emulator:
        yield emulator


@pytest.fixture
def channel() -> str:
    return channel_name()


@pytest.fixture
def settings(redis_url: str, telegram: FakeTelegram, channel: str) -> Settings:
    # Each test's bot has an id of its own (the `telegram` fixture), and a bot refuses a
    # database another bot's id claimed: forget the last test's, as a flush would.
    with redis.Redis.from_url(redis_url) as client:
        client.delete(BOT_ID)
    return Settings(
        _env_file=None,
        bot_token=telegram.token,
        telegram_base_url=telegram.base_url,
        redis_url=redis_url,
        notification_channel=channel,
        notification_stream=f"{channel}-stream",
        stream_consumer="test-worker",
        receipt_channel=f"{channel}-receipts",
        feedback_stream=f"{channel}-feedback",
        shutdown_timeout=5,
        # Flood control paces a chat to ~1 message/s; tests that do not test it go faster.
        telegram_chat_burst=1000,
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, not started yet, that the test may pause, kill and
    start again: it writes an append-only file, so what it held survives a SIGKILL."""
    server = _redis_server(tmp_path, durable=True)
    yield server
    if server.running:
        server.kill()


@pytest.fixture
def unix_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own on a unix socket only, already started."""
    server = _redis_server(tmp_path, unix=True)
    server.start()
    yield server
    server.kill()


def _redis_server(directory: Path, *, durable: bool = False, unix: bool = False) -> RedisServer:
    """A RedisServer, or the test is skipped without the binary (it fails in CI instead)."""
    if redis_server.installed() is None:
        reason = "needs the redis-server binary to start a server of its own"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return RedisServer(directory, durable=durable, unix=unix)


@pytest.fixture
async def running_bot(
    settings: Settings, redis_client: redis.asyncio.Redis
) -> AsyncIterator[RunningBot]:
    """The whole bot, in this event loop, polling the emulator and listening to Redis."""
    running = await start_bot(settings)
    yield running
    if not running.task.done():
        await running.shutdown()


@pytest.fixture
async def receipts(
    redis_client: redis.asyncio.Redis, settings: Settings
) -> AsyncIterator[redis.asyncio.client.PubSub]:
    """A subscription to the bot's receipts (read them with `next_json`)."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(settings.receipt_channel)
    async with pubsub:
        yield pubsub


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """configure_logging changes global state; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
