"""Durable source: a Redis Stream read through a consumer group, acknowledged only once settled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from bot.notification import STREAM, Envelope
from bot.sources.pubsub import CONNECTION_ERRORS
from bot.sources.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.store.client import PAYLOAD_FIELD, as_text
from bot.store.schedule import RELEASED_FIELD

log = structlog.get_logger(__name__)

BLOCK_MS = 2000  # below the client's 5 s socket timeout, so a blocking read is never cut off

Submit = Callable[[Envelope], Awaitable[None]]


class StreamConsumer:
    """Reads `stream` as `consumer` of `group` and hands each entry on as an Envelope whose
    `ack` acknowledges it. On start it first re-reads its own pending entries (left by a
    crash of this same consumer), and every `claim_every` seconds it marks the entries it holds
    as fresh, claims entries other consumers left idle for over `claim_idle` seconds (they
    died), and trims acknowledged entries.

    At most `max_in_flight` entries are read but not yet settled, so a backlog stays in Redis
    rather than in memory.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stream: str,
        group: str,
        consumer: str,
        submit: Submit,
        *,
        claim_idle: float = 60.0,
        claim_every: float = 15.0,
        max_in_flight: int = 1000,
        forget_after: float = 3600.0,
        batch: int = 100,
        backoff_base: float = 0.2,
        backoff_max: float = 1.0,
        on_reconnect: Callable[[], None] | None = None,
        rank: int | None = None,
    ) -> None:
        self._rank = rank  # the priority of what it reads, unless an entry says otherwise
        self._redis = client
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._submit = submit
        self._claim_idle_ms = int(claim_idle * 1000)
        self._claim_every = claim_every
        self._max_in_flight = max_in_flight
        self._forget_after = forget_after
        self._batch = batch
        self._backoff = Backoff(
            "stream", base=backoff_base, cap=backoff_max, on_recovered=on_reconnect, stream=stream
        )
        self._in_flight: set[str] = set()
        self._room = asyncio.Event()
        self._resumed_own = False
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Consume until cancelled; reconnect with backoff when Redis goes away.
        ResponseError counts as gone too: e.g. NOGROUP after the stream was deleted (the
        group is then recreated)."""
        await keep_connected(self._session, self._backoff, (*CONNECTION_ERRORS, ResponseError))

    async def _session(self) -> None:
        try:
            await self._ensure_group()
            if not self._resumed_own:
                # Only at start: after a reconnect our pending entries are still in flight here.
                await self._read_pending_of_own()
                self._resumed_own = True
            if not self._backoff.recovered():
                log.info(
                    "stream_consuming",
                    stream=self._stream,
                    group=self._group,
                    consumer=self._consumer,
                )
            self.ready.set()
            await self._consume()
        except (*CONNECTION_ERRORS, ResponseError):
            self.ready.clear()
            raise

    async def _ensure_group(self) -> None:
        try:
            # From id 0: entries added before the bot's first start are delivered too.
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self) -> None:
        next_maintenance = 0.0
        while True:
            stop_if_cancelled()
            if time.monotonic() >= next_maintenance:
                await self._keep_own_fresh()
                await self._claim_stale()
                await self._forget_departed()
                await self.trim()
                next_maintenance = time.monotonic() + self._claim_every
            room = await self._wait_for_room(next_maintenance - time.monotonic())
            if not room:
                continue
            response = await self._redis.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: ">"},
                count=min(room, self._batch),
                # Back in time for the next maintenance round: our entries must stay fresh.
                block=min(BLOCK_MS, max(int(self._claim_every * 1000), 1)),
            )
            for entry_id, fields in _entries(response):
                await self._hand_on(entry_id, fields)

    async def _wait_for_room(self, within: float) -> int:
        """Entries that may be read now; 0 when none became free `within` seconds."""
        if len(self._in_flight) >= self._max_in_flight:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), max(within, 0.01))
        return max(self._max_in_flight - len(self._in_flight), 0)

    async def _keep_own_fresh(self) -> None:
        """Reset the idle time of the entries this instance holds: another instance claims
        only entries idle for `claim_idle`, which then means "their consumer died", never
        "they waited long here" (a flood-limit queue would otherwise be delivered twice)."""
        if self._in_flight:
            await self._redis.xclaim(
                self._stream,
                self._group,
                self._consumer,
                0,
                list(self._in_flight),
                justid=True,
            )

    async def _read_pending_of_own(self) -> None:
        resumed = 0
        start = "0"
        while True:
            response = await self._redis.xreadgroup(
                self._group, self._consumer, {self._stream: start}, count=self._batch
            )
            entries = _entries(response)
            if not entries:
                break
            for entry_id, fields in entries:
                await self._hand_on(entry_id, fields)
                resumed += 1
            start = as_text(entries[-1][0])
        if resumed:
            log.info("stream_resumed_pending", stream=self._stream, entries=resumed)

    async def _forget_departed(self) -> None:
        """Remove consumers that hold nothing and have not read for `forget_after` seconds:
        each process that ran without a stable name (DYNO) left one behind."""
        for consumer in await self._redis.xinfo_consumers(self._stream, self._group):
            name = as_text(consumer["name"])
            # Redis 7.2+ says how long since it last read ("inactive", -1: never); 7.0 since
            # it last asked ("idle"). A live consumer asks every BLOCK_MS.
            inactive = int(consumer.get("inactive", -1))
            idle = (inactive if inactive >= 0 else int(consumer["idle"])) / 1000
            if name != self._consumer and not consumer["pending"] and idle > self._forget_after:
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)
                log.info("stream_consumer_forgotten", consumer=name, idle_seconds=round(idle))

    async def _claim_stale(self) -> None:
        """Take over entries another consumer read but never acknowledged (it died)."""
        start, claimed = "0-0", 0
        while True:
            reply = await self._redis.xautoclaim(
                self._stream,
                self._group,
                self._consumer,
                self._claim_idle_ms,
                start_id=start,
                count=self._batch,
            )
            start, entries = as_text(reply[0]), reply[1]
            for entry_id, fields in entries:
                if as_text(entry_id) in self._in_flight:
                    continue  # ours, just slow (e.g. waiting out a flood limit)
                await self._hand_on(entry_id, fields)
                claimed += 1
            if start == "0-0":
                break
        if claimed:
            log.info("stream_claimed", stream=self._stream, entries=claimed)

    async def _hand_on(self, entry_id: bytes | str, fields: dict[bytes, bytes] | None) -> None:
        entry = as_text(entry_id)
        if fields is None:  # trimmed away while pending: nothing left to deliver
            await self._redis.xack(self._stream, self._group, entry)
            return
        if entry in self._in_flight:
            return
        self._in_flight.add(entry)

        def ack(pipe: Pipeline) -> None:
            pipe.xack(self._stream, self._group, entry)

        def release() -> None:
            self._in_flight.discard(entry)
            self._room.set()

        payload = fields.get(PAYLOAD_FIELD.encode())
        envelope = Envelope(
            payload if payload is not None else b"",
            STREAM,
            ack=ack,
            release=release,
            # The entry's id is when it was added: what a ttl counts from.
            published_at=_id_key(entry)[0] / 1000,
            released=RELEASED_FIELD.encode() in fields,
            stream_rank=self._rank,
        )
        await self._submit(envelope)

    async def trim(self) -> None:
        """Drop entries every consumer group has acknowledged (XTRIM MINID), keeping memory
        bounded by the backlog rather than by history."""
        threshold: bytes | None = None
        for group in await self._redis.xinfo_groups(self._stream):
            pending = await self._redis.xpending(self._stream, group["name"])
            oldest = pending["min"] if pending["pending"] else group["last-delivered-id"]
            if threshold is None or _id_key(oldest) < _id_key(threshold):
                threshold = oldest
        if threshold is not None and _id_key(threshold) > (0, 0):
            await self._redis.xtrim(self._stream, minid=threshold, approximate=False)


async def pending_entries(client: redis.asyncio.Redis, stream: str, group: str) -> int:
    """Entries of `group` read but not yet acknowledged, by any consumer; 0 before the group
    exists (nothing was ever read)."""
    try:
        return int((await client.xpending(stream, group))["pending"])
    except ResponseError:  # NOGROUP
        return 0


def _entries(response: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """XREADGROUP's entries for our one stream, in RESP2 ([[name, entries]]) or RESP3 shape."""
    if not response:
        return []
    if isinstance(response, dict):
        return [entry for entries in response.values() for entry in entries[0]]
    return [entry for _name, entries in response for entry in entries]


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    millis, _, sequence = as_text(entry_id).partition("-")
    return int(millis), int(sequence or 0)
