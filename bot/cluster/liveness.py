"""Which instances are alive: each says so in Redis every second (by Redis's clock), with how
many notifications it holds, so the leader takes over a dead one's work at once and never a
live one's."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.store.client import as_text
from bot.store.clock import RedisClock

log = structlog.get_logger(__name__)

# hash: "<instance name>|<process token>" -> "<Redis ms> <notifications held>"
INSTANCES_KEY = "notify:instances:{bot_id}"

BEAT_EVERY = 1.0  # seconds between heartbeats
# An instance silent this long is dead. Longer than the heartbeat's reconnect backoff cap
# (BACKOFF_CAP) plus a beat: a live instance that lost Redis for a moment beats again well
# within it.
DEAD_AFTER = 3.0
BACKOFF_CAP = 1.0
FORGET_AFTER = 3600.0  # a dead instance's entry is dropped after this long (it holds nothing)
FORGET_EVERY = 60  # beats between sweeps for such entries
GOODBYE_TIMEOUT = 1.0  # seconds the last HDEL may take at shutdown (Redis may be away)

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
    """Another process as its last heartbeat shows it."""

    field: str  # "<name>|<token>"
    name: str  # its STREAM_CONSUMER
    age: float  # seconds since its last beat, by Redis's clock
    holding: int  # notifications it had accepted and not yet settled


class Heartbeat:
    """Beats every BEAT_EVERY seconds until cancelled; `holding()` is what it reports. Each
    process beats under its name and a token of its own: two processes given one name (a
    restart overlapping its predecessor's drain) are told apart.

    A peer is judged by beats this instance has seen since it last (re)connected
    (`connected_for`): after an outage every peer's beat is old and its `holding` out of
    date, so a peer counts as settled only once it has beaten again, and as dead only once it
    has stayed silent for `dead_after` while this instance was connected. A process that has
    not lost Redis since it started trusts a peer's last "holding nothing", however old (a
    restart after a SIGKILL starts at once when its predecessor held nothing)."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        identity: str,
        holding: Callable[[], int],
        *,
        every: float = BEAT_EVERY,
        dead_after: float = DEAD_AFTER,
        clock: RedisClock | None = None,
    ) -> None:
        self._redis = client
        self.key = key
        self.identity = identity
        self._field = f"{identity}|{uuid.uuid4().hex[:12]}"
        self._holding = holding
        self.every = every
        self.clock = clock  # set from Redis's TIME at every beat
        self.dead_after = dead_after
        self._beat = client.register_script(_BEAT)
        self._read = client.register_script(_READ)
        self._backoff = Backoff("heartbeat", base=every, cap=BACKOFF_CAP)
        self._since: float | None = None  # monotonic time of the first beat after a break
        self._lost_redis = False  # a beat failed since this process started
        self._beats = 0
        self._leading = False  # reports holding something while it leads (see `lead`)
        self._one_at_a_time = asyncio.Lock()  # a later beat never lands before an earlier one
        self._wake = asyncio.Event()  # beat now, not at the next tick

    async def run(self) -> None:
        """Beat until cancelled; then remove this process's entry (it holds nothing more)."""
        try:
            await keep_connected(self._loop, self._backoff, (RedisError,))
        finally:
            self._since = None
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self._redis.hdel(self.key, self._field), GOODBYE_TIMEOUT)

    async def _loop(self) -> None:
        try:
            while True:
                stop_if_cancelled()
                self._wake.clear()
                await self._beat_once()
                if self._since is None:
                    self._since = time.monotonic()
                    self._backoff.recovered()
                self._beats += 1
                if self._beats % FORGET_EVERY == 0:
                    await self._forget_dead()
                stop_if_cancelled()  # a stop the beat swallowed would wait a tick more
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.every)
        except RedisError:
            self._since = None
            self._lost_redis = True
            raise

    async def _beat_once(self) -> None:
        async with self._one_at_a_time:
            holding = max(self._holding(), 1) if self._leading else self._holding()
            sent_at = time.time()
            redis_ms = await self._beat(keys=[self.key], args=[self._field, holding])
            if self.clock is not None:
                self.clock.observe(int(redis_ms), sent_at, time.time())

    async def lead(self) -> None:
        """Say in Redis that this instance holds something, from now until `stepped_down`,
        and return once Redis has it. A leader reads only after this: its last beat may say
        "holding nothing" from before it read a burst, and a next leader trusting that beat
        would take over and send what this one is still sending."""
        self._leading = True
        backoff = Backoff("heartbeat", base=self.every, cap=BACKOFF_CAP)
        while True:
            stop_if_cancelled()
            try:
                await self._beat_once()
            except RedisError as exc:
                await backoff.failed(exc)
                continue
            backoff.recovered()
            return

    def stepped_down(self) -> None:
        """This instance reads nothing more: from its next beat, which is now, it reports what
        it still holds, so that the next leader starts once that is settled."""
        self._leading = False
        self._wake.set()

    def connected_for(self) -> float:
        """Seconds since this instance's beats got through without a break; 0 while not."""
        return 0.0 if self._since is None else time.monotonic() - self._since

    async def peers(self) -> list[Peer]:
        """Every other process's last beat."""
        now, flat = await self._read(keys=[self.key])
        peers = []
        for field_raw, value_raw in zip(flat[::2], flat[1::2], strict=True):
            field = as_text(field_raw)
            if field == self._field:
                continue
            beat, _, holding = as_text(value_raw).partition(" ")
            name = field.rpartition("|")[0] or field
            peers.append(Peer(field, name, (int(now) - int(beat)) / 1000, int(holding or 0)))
        return peers

    async def live(self) -> int:
        """Processes of this bot whose last beat is younger than `dead_after`, this one
        included (it is reading Redis, so it lives)."""
        return 1 + sum(peer.age < self.dead_after for peer in await self.peers())

    def dead(self, peer: Peer | None) -> bool:
        """Whether `peer` (None: never beat, or gone) can be taken over: silent for
        `dead_after` seconds while this instance has been connected at least that long."""
        if self.connected_for() < self.dead_after:
            return False
        return peer is None or peer.age >= self.dead_after

    def settled(self, peer: Peer) -> bool:
        """Whether `peer` said it holds nothing: in a beat made since this instance connected,
        or in any beat while this instance has never lost Redis. (After an outage an older
        "nothing" may be out of date: the peer may have read a burst just before it.)"""
        if peer.holding != 0:
            return False
        return peer.age < self.connected_for() or not self._lost_redis

    def busy(self, peers: list[Peer]) -> list[Peer]:
        """The peers that may still deliver what they hold: neither dead nor settled."""
        return [peer for peer in peers if not self.dead(peer) and not self.settled(peer)]

    def may_take(self, name: str, peers: list[Peer]) -> bool:
        """Whether stream entries and leases held under `name` may be taken over now: every
        process of that name is dead or settled. Under this instance's own name no other
        process is needed (a predecessor's leftovers); under another, it must be known dead."""
        named = [peer for peer in peers if peer.name == name]
        if not named:
            return name == self.identity or self.dead(None)
        return not self.busy(named)

    async def _forget_dead(self) -> None:
        """Drop entries of processes dead for FORGET_AFTER (each unnamed process leaves one;
        a SIGKILLed one never says goodbye)."""
        stale = [peer.field for peer in await self.peers() if peer.age > FORGET_AFTER]
        if stale:
            await self._redis.hdel(self.key, *stale)
