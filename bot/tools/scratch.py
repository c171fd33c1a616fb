"""The Redis a tool (demo, bench) writes to: an embedded one of its own, or one the user named
with --redis-url for that purpose, which must then be empty (or the user says so) and gets
back only what it held."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import redis

from bot.store.client import describe, sync_client
from bot.tools.redis_server import RedisServer, installed


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """A fakeredis TCP server on a free loopback port; yields its URL."""
    try:
        from fakeredis import TcpFakeServer  # noqa: PLC0415 - only the tools need it
    except ImportError:
        raise SystemExit(
            "error: the embedded Redis needs fakeredis: pip install 'notify-bot[demo]' "
            "(or give --redis-url a Redis server's empty database)"
        ) from None
    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"redis://{host!s}:{port}/0"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def private_redis_server() -> Iterator[str]:
    """A redis-server process of our own (it keeps nothing on disk) on a free loopback port,
    when one is installed; otherwise the embedded fakeredis. Yields its URL. The bench uses it:
    fakeredis answers in the bench's own process, whose CPU the emulator needs."""
    if installed() is None:
        with embedded_redis() as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="notify-bot-redis-") as folder:
        server = RedisServer(Path(folder))
        try:
            server.start()
            yield server.url
        finally:
            server.stop()  # also one that started but never answered


@contextlib.contextmanager
def scratch_redis(
    given: str | None, tool: str, *, allow_data: bool = False, server: bool = False
) -> Iterator[str]:
    """The URL `tool` may write to: when `given` is None, a Redis of its own (a redis-server
    process if `server` and one is installed, else the embedded fakeredis). A `given`
    database must hold no keys unless `allow_data`; ValueError says what to do otherwise. On
    exit every key the tool created is deleted (keys that were there before are left, though
    the tool may have changed them: that is what `allow_data` accepts)."""
    if given is None:
        with private_redis_server() if server else embedded_redis() as url:
            yield url
        return
    client = sync_client(given)
    try:
        before = _keys(client)
        if before and not allow_data:
            more = " or add --yes-use-it" if tool == "bench" else ""
            raise ValueError(
                f"{describe(given)} holds {len(before)} keys: the {tool} writes to the database "
                "it is given; point --redis-url at an empty one (another db number, e.g. /15)"
                f"{more}"
            )
        try:
            yield given
        finally:
            made = _keys(client) - before
            if made:
                client.delete(*made)
    finally:
        client.close()


def _keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))
