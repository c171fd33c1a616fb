"""Which instances are alive: each says so in Redis every half second (by Redis's clock), with
how many notifications it still holds, so the leader takes over a dead one's work at once and
never a live one's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.sources.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.store.client import as_text

log = structlog.get_logger(__name__)

INSTANCES_KEY = "notify:instances:{bot_id}"  # hash: instance name -> "<Redis ms> <holding>"

BEAT_EVERY = 0.5  # seconds between heartbeats
# An instance silent this long is dead. Longer than the heartbeat's reconnect backoff cap
# (BACKOFF_CAP) plus a few beats: a live instance that lost Redis for a moment beats again
# well within it.
DEAD_AFTER = 2.5
BACKOFF_CAP = 1.0
FORGET_AFTER = 3600.0  # a dead instance's entry is dropped after this long (it holds nothing)

_BEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ms .. ' ' .. ARGV[2])
return ms
"""
# Every instance's last beat and what it holds, with Redis's clock now: ages need one clock.
_READ = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return {ms, redis.call('HGETALL', KEYS[1])}
"""


@dataclass(frozen=True)
class Peer:
    """Another instance as its last heartbeat shows it."""

    name: str
    age: float  # seconds since its last beat, by Redis's clock
    holding: int  # notifications it had accepted and not yet settled


class Heartbeat:
    """Beats every BEAT_EVERY seconds until cancelled; `holding()` is what it reports. Knows
    how long this instance has been connected without a break (`connected_for`): after an
    outage every peer's beat is old, and only those that stay silent for DEAD_AFTER after we
    are back are dead."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        identity: str,
        holding: Callable[[], int],
        *,
        every: float = BEAT_EVERY,
        dead_after: float = DEAD_AFTER,
    ) -> None:
        self._redis = client
        self.key = key
        self.identity = identity
        self._holding = holding
        self._every = every
        self.dead_after = dead_after
        self._beat = client.register_script(_BEAT)
        self._read = client.register_script(_READ)
        self._backoff = Backoff("heartbeat", base=every, cap=BACKOFF_CAP)
        self._since: float | None = None  # monotonic time of the first beat after a break

    async def run(self) -> None:
        """Beat until cancelled; then remove this instance's entry (it holds nothing more)."""
        try:
            await keep_connected(self._loop, self._backoff, (RedisError,))
        finally:
            self._since = None
            with contextlib.suppress(RedisError, OSError):
                await asyncio.shield(self._redis.hdel(self.key, self.identity))

    async def _loop(self) -> None:
        try:
            while True:
                stop_if_cancelled()
                await self._beat(keys=[self.key], args=[self.identity, self._holding()])
                if self._since is None:
                    self._since = time.monotonic()
                    self._backoff.recovered()
                await asyncio.sleep(self._every)
        except RedisError:
            self._since = None
            raise

    def connected_for(self) -> float:
        """Seconds since this instance's beats got through without a break; 0 while not."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    async def peers(self) -> dict[str, Peer]:
        """Every other instance's last beat."""
        now, flat = await self._read(keys=[self.key])
        peers = {}
        for name_raw, value_raw in zip(flat[::2], flat[1::2], strict=True):
            name = as_text(name_raw)
            if name == self.identity:
                continue
            beat, _, holding = as_text(value_raw).partition(" ")
            peers[name] = Peer(name, (int(now) - int(beat)) / 1000, int(holding or 0))
        return peers

    def dead(self, peer: Peer | None) -> bool:
        """Whether `peer` (None: never beat, or forgotten) can be taken over: silent for
        `dead_after` seconds while this instance has been connected at least that long."""
        if self.connected_for() < self.dead_after:
            return False
        return peer is None or peer.age >= self.dead_after

    async def forget_dead(self, peers: dict[str, Peer]) -> None:
        """Drop entries of instances dead for FORGET_AFTER (each unnamed process leaves one)."""
        stale = [peer.name for peer in peers.values() if peer.age > FORGET_AFTER]
        if stale:
            await self._redis.hdel(self.key, *stale)
