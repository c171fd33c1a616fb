"""Shared fixtures: real Redis (or a clear skip), fakeredis, the Bot API emulator, a running bot."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import fakeredis
import pytest
import redis
import redis.asyncio
import structlog

from bot import app, runtime
from bot.config.settings import Settings
from bot.store.deployment import BOT_ID
from bot.testing import DEFAULT_TOKEN, FakeTelegram

# A database of its own so a test run never touches data in db 0; pub/sub ignores the db
# number, which is why every test also gets a channel of its own.
BASE_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# pytest-xdist workers at most (pyproject's --maxprocesses): each takes a database, and a
# second one for tests of two deployments on one server, all above db 0.
MAX_WORKERS = 7


def _worker_url(base: str, worker: str, *, spare: bool = False) -> str:
    """The database of pytest-xdist worker `worker` ("gw0", "gw1", ...; "" when not
    parallel): the base database, then one lower for each further worker, as every test
    flushes its database. `spare`: its second one, MAX_WORKERS further down."""
    parts = urlsplit(base)
    database = int(parts.path.lstrip("/") or 0) - int(worker.removeprefix("gw") or 0)
    if spare:
        database -= MAX_WORKERS
    if database < 1:
        raise RuntimeError(f"worker {worker or 'main'}: no database left above db 0 ({base})")
    return urlunsplit(parts._replace(path=f"/{database}"))


_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_REDIS_URL = _worker_url(BASE_REDIS_URL, _WORKER)
SPARE_REDIS_URL = _worker_url(BASE_REDIS_URL, _WORKER, spare=True)  # a second deployment's
IN_CI = os.environ.get("CI", "").lower() == "true"


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
    return f"notification-test-{uuid.uuid4().hex[:8]}"


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
        shutdown_timeout=5,
        # Flood control paces a chat to ~1 message/s; tests that do not test it go faster.
        telegram_chat_burst=1000,
    )


class OwnRedis:
    """A redis-server of this test's own, on a free port, that the test may kill and restart.
    It writes an append-only file, so what it held survives a SIGKILL, as on a real server."""

    def __init__(self, binary: str, directory: Path, *, unix: bool = False) -> None:
        self._binary = binary
        self._directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        # With `unix`, it listens on a unix socket only (REDIS_URL=unix://...).
        self._socket = directory / "redis.sock" if unix else None
        if self._socket is not None:
            self.port = 0
            self.url = f"unix://{self._socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self._directory),
                *(["--unixsocket", str(self._socket)] if self._socket is not None else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            finally:
                client.close()

    @property
    def running(self) -> bool:
        return self._process is not None

    def pause(self) -> None:
        """Stop answering without closing a connection (SIGSTOP), until `resume`."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)  # a paused one cannot die otherwise
        self._process.kill()
        self._process.wait()
        self._process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(_redis_server(), tmp_path)
    yield server
    if server.running:
        server.kill()


@pytest.fixture
def unix_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own on a unix socket only, already started."""
    server = OwnRedis(_redis_server(), tmp_path, unix=True)
    server.start()
    yield server
    server.kill()


def _redis_server() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "needs the redis-server binary to start a server of its own"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return binary


@dataclass
class RunningBot:
    bot: app.Bot
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=15)


async def start_bot(settings: Settings, within: float = 15) -> RunningBot:
    """Run the whole bot in this event loop and return once it is ready."""
    bot = app.build(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.serve(bot, stop, ready))
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({task, ready_wait}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    ready_wait.cancel()
    if task.done():
        task.result()  # surfaces the start-up error
    assert ready.is_set(), f"the bot did not become ready within {within} s"
    return RunningBot(bot, stop, task)


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
