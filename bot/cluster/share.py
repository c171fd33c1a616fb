"""Sharing Telegram's overall limit between instances: each one that is sending right now
announces it in Redis and paces itself to its share (30/s split between the busy instances)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.telegram.pacing import Pacer

log = structlog.get_logger(__name__)

SENDERS_KEY = "notify:senders:{bot_id}"  # sorted set: instance -> when it last sent (ms)

# Redis's clock for every instance, so clock skew between machines cannot matter.
_ANNOUNCE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


class SendShare:
    """While `busy()` (notifications are waiting to be sent), every `interval` seconds: say so
    in Redis and set the pacer to 1/n of the overall limit, n being the instances busy within
    the last 3 intervals. Idle, it does nothing until `activity` is set.

    The split follows load within about `interval`: an instance that starts sending while
    others are busy may run at its old share for that long (its 429s are waited out).
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        identity: str,
        pacer: Pacer,
        *,
        busy: Callable[[], bool],
        activity: asyncio.Event,
        interval: float = 0.5,
    ) -> None:
        self._key = key
        self._identity = identity
        self._pacer = pacer
        self._busy = busy
        self._activity = activity
        self._interval = interval
        self._announce = client.register_script(_ANNOUNCE)
        self._redis = client
        self._announced = False
        self._backoff = Backoff("send_share", base=interval, cap=5.0)
        self.senders = 1

    async def run(self) -> None:
        """Until cancelled."""
        await keep_connected(self._share, self._backoff, (RedisError,))

    async def _share(self) -> None:
        while True:
            stop_if_cancelled()
            if not self._busy():
                await self._go_quiet()
                stop_if_cancelled()
                self._activity.clear()
                if not self._busy():  # checked again: accept() may have run meanwhile
                    await self._activity.wait()
                continue
            senders = int(
                await self._announce(
                    keys=[self._key], args=[self._identity, int(self._interval * 3000)]
                )
            )
            self._backoff.recovered()
            # Soon again after the first: instances that became busy together learn of each
            # other within 0.1 s rather than after a whole interval at the full rate.
            again = self._interval if self._announced else min(0.1, self._interval)
            self._announced = True
            self._set(max(senders, 1))
            await asyncio.sleep(again)

    async def _go_quiet(self) -> None:
        # Others need not wait for our entry to age out; we go back to the whole budget, which
        # is right as long as we stay idle, and corrected by the next announcement otherwise.
        if self._announced:
            with contextlib.suppress(RedisError):
                await self._redis.zrem(self._key, self._identity)
            self._announced = False
        self._set(1)

    def _set(self, senders: int) -> None:
        if senders != self.senders:
            log.info("send_share_changed", senders=senders)
            self.senders = senders
            self._pacer.set_share(senders)
