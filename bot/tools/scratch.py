"""The Redis a tool (demo, bench) writes to: an embedded one of its own, or one the user named
with --redis-url for that purpose, which must then be empty (or the user says so) and gets
back only what it held."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import redis

from bot.store.client import describe, sync_client


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
    binary = shutil.which("redis-server")
    if binary is None:
        with embedded_redis() as url:
            yield url
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="notify-bot-redis-") as folder:
        args = [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        server = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
            args, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            _wait_until_up(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while not _answers(client):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
    finally:
        client.close()


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
