"""Durable source: a Redis Stream read through a consumer group, acknowledged only once settled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.pipeline.envelope import STREAM, Envelope
from bot.store.client import CONNECTION_ERRORS, PAYLOAD_FIELD, as_text
from bot.store.schedule import RELEASED_FIELD

log = structlog.get_logger(__name__)

BLOCK_MS = 2000  # below the client's 5 s socket timeout, so a blocking read is never cut off
UNSURE_WAIT = 0.05  # seconds between looks while the leader lock is in doubt
MAINTAIN_EVERY = 15.0  # seconds between take-overs, trims and sweeps of departed consumers
RELOOK_EVERY = 1.0  # ... while another's entries wait for its instance to be known dead

Submit = Callable[[Envelope], Awaitable[None]]
Entry = tuple[bytes, dict[bytes, bytes] | None]


# Of the consumers holding entries (this one's name too), those whose entries may be taken over
# now (every process of that name died, or holds nothing: bot.cluster.liveness decides).
MayTake = Callable[[list[str]], Awaitable[set[str]]]

# What an entry's payload asks for, by the rank of the stream it belongs on.
_PRIORITY_RANKS = {"high": 0, "normal": 1, "bulk": 2}
PUBLISHED_AT_FIELD = "published_at"  # ms: set on an entry moved to its priority's stream


class StreamConsumer:
    """Reads `stream` as `consumer` of `group` and hands each entry on as an Envelope whose
    `ack` acknowledges it. Before it reads anything new (and, as a safety net, every
    `maintain_every` seconds) it takes over pending entries: its own that it does not hold in
    memory (left by an earlier process with its name) and those of other consumers that
    `may_take` allows (their instance died, or stepped down and settled what it had); while
    another's entries are there and not yet allowed, it looks again every second. It never
    claims by idle time: an entry waiting out a flood limit or a Redis outage at a live
    instance is that instance's.

    The normal stream (`moves` set: the streams of each rank) is where a web app in any
    language XADDs: an entry whose payload names another priority is moved to that priority's
    stream as it is read (XADD and XACK in one transaction), keeping its publish time, so a
    high one is never stuck behind a bulk backlog.

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
        may_take: MayTake | None = None,
        maintain_every: float = MAINTAIN_EVERY,
        max_in_flight: int = 1000,
        forget_after: float = 3600.0,
        batch: int = 100,
        backoff_base: float = 0.2,
        backoff_max: float = 1.0,
        on_reconnect: Callable[[], None] | None = None,
        rank: int | None = None,
        moves: tuple[str, str, str] | None = None,
        maxlen: int = 100_000,
        may_read: Callable[[], bool] = lambda: True,
    ) -> None:
        self._rank = rank  # the priority of what it reads, unless an entry says otherwise
        self._redis = client
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._submit = submit
        self._may_take = may_take
        self._maintain_every = maintain_every
        self._max_in_flight = max_in_flight
        self._forget_after = forget_after
        self._batch = batch
        self._moves = moves
        self._maxlen = maxlen
        self.may_read = may_read  # False while this instance may no longer be the leader
        self._backoff = Backoff(
            "stream", base=backoff_base, cap=backoff_max, on_recovered=on_reconnect, stream=stream
        )
        self._in_flight: set[str] = set()
        self._others_left = False  # another consumer's entries were there, not yet takeable
        self._room = asyncio.Event()
        self.ready = asyncio.Event()

    @property
    def holding(self) -> int:
        """Entries read and not yet settled."""
        return len(self._in_flight)

    async def run(self) -> None:
        """Consume until cancelled; reconnect with backoff when Redis goes away.
        ResponseError counts as gone too: e.g. NOGROUP after the stream was deleted (the
        group is then recreated)."""
        try:
            await keep_connected(self._session, self._backoff, (*CONNECTION_ERRORS, ResponseError))
        finally:
            self.ready.clear()

    async def _session(self) -> None:
        try:
            await self._ensure_group()
            self._others_left = await self.take_over()
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
        # Listed in XINFO CONSUMERS from the start, not only once it has read an entry.
        await self._redis.xgroup_createconsumer(self._stream, self._group, self._consumer)

    async def _consume(self) -> None:
        next_maintenance = time.monotonic() + self._next_look()
        while True:
            stop_if_cancelled()
            if time.monotonic() >= next_maintenance:
                # Mostly a safety net: while this instance leads nobody else reads, and what
                # the instances before it left was taken over when the session began, unless
                # one of them was not yet known to be dead then.
                self._others_left = await self.take_over()
                await self._forget_departed()
                await self.trim()
                next_maintenance = time.monotonic() + self._next_look()
            room = await self._wait_for_room(next_maintenance - time.monotonic())
            if not room:
                continue
            if not self.may_read():
                await asyncio.sleep(UNSURE_WAIT)  # until the lock is renewed, or this ends
                continue
            response = await self._redis.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: ">"},
                count=min(room, self._batch),
                block=max(min(BLOCK_MS, int((next_maintenance - time.monotonic()) * 1000)), 1),
            )
            entries = _entries(response)
            if self._moves is not None:
                entries = await self._move_others(entries)
            for entry_id, fields in entries:
                await self._hand_on(entry_id, fields)

    def _next_look(self) -> float:
        return RELOOK_EVERY if self._others_left else self._maintain_every

    async def _wait_for_room(self, within: float) -> int:
        """Entries that may be read now; 0 when none became free `within` seconds."""
        if len(self._in_flight) >= self._max_in_flight:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), max(within, 0.01))
        return max(self._max_in_flight - len(self._in_flight), 0)

    async def _move_others(self, entries: list[Entry]) -> list[Entry]:
        """Move the entries whose payload names another priority to that priority's stream;
        return the others. One transaction per read: an entry is moved and acknowledged
        together, or neither."""
        assert self._moves is not None  # noqa: S101
        keep: list[Entry] = []
        pipe = self._redis.pipeline(transaction=True)
        for entry_id, fields in entries:
            rank = None if fields is None else _asked_rank(fields.get(PAYLOAD_FIELD.encode()))
            if rank is None or rank == self._rank or fields is None:
                keep.append((entry_id, fields))
                continue
            moved = dict(fields)
            published = fields.get(PUBLISHED_AT_FIELD.encode())
            moved[PUBLISHED_AT_FIELD.encode()] = published or str(_id_key(entry_id)[0]).encode()
            pipe.xadd(self._moves[rank], moved, maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.xack(self._stream, self._group, entry_id)
        if len(pipe):
            await pipe.execute()
        return keep

    async def take_over(self) -> bool:
        """Take over the pending entries this instance may: its own not held in memory, and
        other consumers' that `may_take` allows; hand them on in the order they were added.
        True when other consumers' entries were left (not allowed yet)."""
        summary = await self._redis.xpending(self._stream, self._group)
        if not int(summary["pending"]):
            return False
        holders = [as_text(holder["name"]) for holder in summary["consumers"]]
        # Its own name too: another live process of that name (a restart overlapping its
        # predecessor's drain) may still be sending them.
        if self._may_take is not None:
            allowed = await self._may_take(holders)
        else:
            allowed = {self._consumer}
        taken: list[Entry] = []
        for name in holders:
            if name not in allowed:
                continue
            ids = [entry for entry in await self._pending_ids(name) if entry not in self._in_flight]
            claimed: list[Entry] = []
            for start in range(0, len(ids), self._batch):
                chunk = ids[start : start + self._batch]
                reply: Any = await self._redis.xclaim(
                    self._stream, self._group, self._consumer, 0, list[Any](chunk)
                )
                # Redis < 7 answers nil for an entry trimmed meanwhile; 7 leaves it out.
                claimed.extend(entry for entry in reply if entry and entry[0] is not None)
            taken.extend(claimed)
            if claimed:
                # Left by a process that died (an earlier one of this name, too: what this one
                # holds is not taken). A send in flight then may have reached Telegram: these
                # are the only notifications that can arrive twice (sendMessage has no
                # idempotency key).
                log.warning(
                    "stream_taken_over",
                    stream=self._stream,
                    consumer=name,
                    entries=len(claimed),
                    ids=[_notification_id(fields, entry) for entry, fields in claimed],
                )
        taken.sort(key=lambda entry: _id_key(entry[0]))
        for entry_id, fields in taken:
            await self._hand_on(entry_id, fields)
        if taken:
            log.info("stream_resumed_pending", stream=self._stream, entries=len(taken))
        return any(name not in allowed for name in holders)

    async def _pending_ids(self, consumer: str) -> list[str]:
        ids: list[str] = []
        start = "-"
        while True:
            page: Any = await self._redis.xpending_range(
                self._stream, self._group, start, "+", self._batch, consumername=consumer
            )
            ids.extend(as_text(item["message_id"]) for item in page)
            if len(page) < self._batch:
                return ids
            millis, sequence = _id_key(ids[-1])
            start = f"{millis}-{sequence + 1}"

    async def _forget_departed(self) -> None:
        """Remove consumers that hold nothing and have not read for `forget_after` seconds:
        each process that ran without a stable name (DYNO) left one behind."""
        for consumer in await self._redis.xinfo_consumers(self._stream, self._group):
            name = as_text(consumer["name"])
            # Redis 7.2+ says how long since it last read ("inactive", -1: never); 7.0 since
            # it last asked ("idle").
            inactive = int(consumer.get("inactive", -1))
            idle = (inactive if inactive >= 0 else int(consumer["idle"])) / 1000
            if name != self._consumer and not consumer["pending"] and idle > self._forget_after:
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)
                log.info("stream_consumer_forgotten", consumer=name, idle_seconds=round(idle))

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
            # When it was added (the entry's id, or the id of the entry it was moved from):
            # what a ttl counts from.
            published_at=_published_at(entry, fields) / 1000,
            released=RELEASED_FIELD.encode() in fields,
            stream_rank=self._rank,
        )
        try:
            await self._submit(envelope)
        except BaseException:
            release()  # not taken on: it is not held here (it stays pending for a take-over)
            raise

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


def _entries(response: Any) -> list[Entry]:
    """XREADGROUP's entries for our one stream, in RESP2 ([[name, entries]]) or RESP3 shape."""
    if not response:
        return []
    if isinstance(response, dict):
        return [entry for entries in response.values() for entry in entries[0]]
    return [entry for _name, entries in response for entry in entries]


def _published_at(entry_id: str, fields: dict[bytes, bytes]) -> int:
    moved = fields.get(PUBLISHED_AT_FIELD.encode())
    return int(moved) if moved is not None else _id_key(entry_id)[0]


def _asked_rank(payload: bytes | None) -> int | None:
    """The rank a payload's "priority" asks for; None when it names none (or is no JSON
    object: the dispatcher reports that). A payload without the word is not parsed."""
    if payload is None or b'"priority"' not in payload:
        return None
    try:
        asked = json.loads(payload).get("priority")
    except (ValueError, AttributeError):
        return None
    return _PRIORITY_RANKS.get(asked) if isinstance(asked, str) else None


def _notification_id(fields: dict[bytes, bytes] | None, entry_id: bytes | str) -> str:
    """The notification's id for a log line, else the entry's."""
    payload = None if fields is None else fields.get(PAYLOAD_FIELD.encode())
    if payload is not None and b'"id"' in payload:
        with contextlib.suppress(ValueError, AttributeError):
            notification_id = json.loads(payload).get("id")
            if isinstance(notification_id, str):
                return notification_id
    return as_text(entry_id)


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    millis, _, sequence = as_text(entry_id).partition("-")
    return int(millis), int(sequence or 0)
