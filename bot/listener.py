"""Redis side: subscribe to the notification channel, hand payloads on, reconnect when cut off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.backoff import backoff_delay
from bot.redis_client import stop_if_cancelled

log = structlog.get_logger(__name__)

OnPayload = Callable[[bytes], Awaitable[None]]

# The errors that mean "the connection is gone", as opposed to a bug in our code.
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class ConnectionSilent(RedisConnectionError):
    """Redis did not answer a PING on an idle subscription: the connection is half-open."""


class RedisListener:
    """Subscribes to one channel and calls `on_payload` with each message's raw bytes.

    Blocks on the socket while idle (no polling). A silent connection is probed with PING after
    `idle_ping_after` seconds and dropped if no reply comes within `pong_timeout`. On any
    connection error it reconnects with exponential backoff and jitter, forever, until cancelled.
    The backoff is capped at `backoff_max` (1 s) so that delivery resumes within about a second
    of Redis coming back: pub/sub keeps nothing, so every second down is lost messages.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        channel: str,
        on_payload: OnPayload,
        *,
        idle_ping_after: float = 30.0,
        pong_timeout: float = 5.0,
        backoff_base: float = 0.5,
        backoff_max: float = 1.0,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self._redis = client
        self._on_reconnect = on_reconnect
        self._channel = channel
        self._on_payload = on_payload
        self._idle_ping_after = idle_ping_after
        self._pong_timeout = pong_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled."""
        self._failures = 0
        self._down_since = 0.0
        while True:
            stop_if_cancelled()
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._consume(pubsub)
            except CONNECTION_ERRORS as exc:
                self.subscribed.clear()
                await self._back_off(exc)

    async def _consume(self, pubsub: PubSub) -> None:
        last_heard = time.monotonic()
        probing = False
        while True:
            stop_if_cancelled()
            deadline = last_heard + self._idle_ping_after + (self._pong_timeout if probing else 0)
            timeout = max(deadline - time.monotonic(), 0.01)
            message = await pubsub.get_message(timeout=timeout)
            if message is not None:
                last_heard = time.monotonic()
                probing = False
                await self._handle(message)
            elif time.monotonic() >= deadline:
                # A None can also be a filtered health-check reply, hence the deadline check.
                if probing:
                    raise ConnectionSilent(f"no reply to PING within {self._pong_timeout:g} s")
                await pubsub.ping()
                probing = True

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            await self._on_payload(message["data"])
        elif kind == "subscribe":
            if self._failures:
                log.info(
                    "redis_recovered",
                    channel=self._channel,
                    attempts=self._failures,
                    outage_seconds=round(time.monotonic() - self._down_since, 2),
                )
            elif self.subscribed.is_set():
                # redis-py reconnected on its own after a short blip and subscribed again.
                log.info("redis_resubscribed", channel=self._channel)
            else:
                log.info("redis_subscribed", channel=self._channel)
            if (self._failures or self.subscribed.is_set()) and self._on_reconnect is not None:
                self._on_reconnect()
            self._failures = 0
            self.subscribed.set()

    async def _back_off(self, exc: BaseException) -> None:
        if not self._failures:
            self._down_since = time.monotonic()
        self._failures += 1
        delay = backoff_delay(self._failures, self._backoff_base, self._backoff_max)
        log.warning(
            "redis_unavailable",
            channel=self._channel,
            attempt=self._failures,
            error=str(exc) or type(exc).__name__,
            retry_in=round(delay, 2),
        )
        await asyncio.sleep(delay)
