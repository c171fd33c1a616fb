"""Redis for every part of the bot (and the publisher): connections from a URL, and the two
conventions they share, decoding replies and the `payload` field of a stream entry."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from bot.store.plans import Command

CertReqs = Literal["required", "optional", "none"]

# The errors that mean "the connection is gone", as opposed to a bug in our code.
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)

# Short enough that a hung server surfaces as an error within a request's lifetime.
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
POOL_WAIT = 20.0


def connection_options(url: str, ssl_cert_reqs: CertReqs = "required") -> dict[str, Any]:
    """Keyword arguments for `from_url`, shared by the bot and the sync/async publishers."""
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": 30,
    }
    scheme = urlsplit(url).scheme
    # TCP keepalive is a TCP option: a unix:// socket's connection refuses the keyword.
    if scheme != "unix":
        options["socket_keepalive"] = True
    # The keyword is only valid for TLS URLs: redis-py raises TypeError with redis://.
    if scheme == "rediss":
        options["ssl_cert_reqs"] = ssl_cert_reqs
    return options


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.1, cap=2.0)


def async_client(
    url: str,
    ssl_cert_reqs: CertReqs = "required",
    *,
    max_connections: int | None = None,
    retries: int = 3,
) -> redis.asyncio.Redis:
    """An asyncio client; a few quick retries ride over a blip, longer outages surface as errors.

    With `max_connections`, a caller that finds every connection busy waits for one (up to
    POOL_WAIT seconds) instead of failing with "Too many connections", as redis-py's default
    pool does once its limit is reached. With `retries=0`, redis-py never sends a command again
    on its own: a write whose answer was lost (Redis ran it) must not be run twice, and a read
    from a stream whose answer was lost must not be followed by the next read.
    """
    # The async client needs redis.asyncio's Retry: the sync one silently disables retries there.
    retry = AsyncRetry(_backoff(), retries=retries)
    options = connection_options(url, ssl_cert_reqs) | {"retry": retry}
    if max_connections is None:
        return redis.asyncio.Redis.from_url(url, **options)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=POOL_WAIT, **options
    )
    return redis.asyncio.Redis.from_pool(pool)  # closes the pool with the client


def sync_client(url: str, ssl_cert_reqs: CertReqs = "required") -> redis.Redis:
    """A blocking client for web apps that are not asyncio."""
    return redis.Redis.from_url(
        url, retry=Retry(_backoff(), retries=3), **connection_options(url, ssl_cert_reqs)
    )


def describe(url: str) -> str:
    """The URL without its password, fit for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "localhost"
    port = f":{parts.port}" if parts.port else ""
    db = parts.path if parts.hostname and parts.path not in ("", "/") else ""
    return f"{parts.scheme}://{host}{port}{db}"


PAYLOAD_FIELD = "payload"  # the one field of a notification stream entry (any language can XADD it)


def as_text(value: bytes | str) -> str:
    """A Redis reply (bytes with the default client) as text."""
    return value.decode() if isinstance(value, bytes) else value


def stream_entry(stream: str, payload: bytes | str, maxlen: int) -> Command:
    """The XADD of one payload, capping the stream at about `maxlen` entries."""
    return Command(
        "xadd", (stream, {PAYLOAD_FIELD: payload}), {"maxlen": maxlen, "approximate": True}
    )


def add_to_stream(client: Any, stream: str, payload: bytes | str, maxlen: int) -> Any:
    """`stream_entry` on a sync or async client or a pipeline; returns what that returns (an
    id, or an awaitable of it)."""
    command = stream_entry(stream, payload, maxlen)
    return getattr(client, command.method)(*command.args, **command.kwargs)


# A stream per priority: a backlog of bulk entries cannot hide a high one behind it, and the
# consumer reads high before normal before bulk. Normal keeps the configured name, so a plain
# XADD to NOTIFICATION_STREAM works as before.
PRIORITY_SUFFIXES = (":high", "", ":bulk")  # by rank: 0 high, 1 normal, 2 bulk


def priority_streams(stream: str) -> tuple[str, str, str]:
    """The streams of `stream`'s high, normal and bulk notifications, in that order."""
    high, normal, bulk = (stream + suffix for suffix in PRIORITY_SUFFIXES)
    return high, normal, bulk
