"""The dead-letter store: undeliverable notifications, kept for a look and a replay."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.client import PAYLOAD_FIELD, add_to_stream, as_text

DEAD_LETTERS = "notify:deadletters"  # stream: one entry per dead letter, oldest trimmed first
MAX_PAYLOAD_BYTES = 64 * 1024  # default for DEADLETTER_MAX_PAYLOAD_BYTES
REPLAY_BATCH = 100  # dead letters read at a time by a replay


@dataclass(frozen=True)
class DeadLetter:
    """One undeliverable notification: the raw payload and why it gave up."""

    id: str
    payload: str
    reason: str
    attempts: int
    source: str
    first_seen: float
    failed_at: float
    truncated: int = 0  # the payload's size in bytes when it was cut to the limit, else 0


@dataclass(frozen=True)
class Replayed:
    """What a replay did: moved back onto the stream, and kept because their payload was cut."""

    moved: int
    truncated: int


class DeadLetterStore:
    """Adds, lists and replays dead letters. At most `maxlen` are kept (oldest dropped), each
    payload at most `max_payload_bytes` (the rest cut off and the letter marked `truncated`),
    so the store is bounded in bytes as well as in count."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        maxlen: int,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self._redis = client
        self._maxlen = maxlen
        self._max_payload = max_payload_bytes

    async def add(
        self, payload: bytes | str, reason: str, attempts: int, source: str, first_seen: float
    ) -> str:
        async with self._redis.pipeline(transaction=False) as pipe:
            self.queue_add(
                pipe,
                payload,
                reason=reason,
                attempts=attempts,
                source=source,
                first_seen=first_seen,
            )
            [entry_id] = await pipe.execute()
        return as_text(entry_id)

    def queue_add(
        self,
        pipe: Pipeline,
        payload: bytes | str,
        *,
        reason: str,
        attempts: int,
        source: str,
        first_seen: float,
    ) -> None:
        """Queue the XADD of a dead letter on `pipe` (to share a round trip)."""
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        fields: dict[Any, Any] = {
            "payload": raw[: self._max_payload],
            "reason": reason,
            "attempts": attempts,
            "source": source,
            "first_seen": f"{first_seen:.3f}",
            "failed_at": f"{time.time():.3f}",
        }
        if len(raw) > self._max_payload:
            fields["truncated"] = len(raw)
        pipe.xadd(DEAD_LETTERS, fields, maxlen=self._maxlen, approximate=False)

    async def count(self) -> int:
        return int(await self._redis.xlen(DEAD_LETTERS))

    async def latest(self, count: int = 20) -> list[DeadLetter]:
        """The newest dead letters first."""
        entries: Any = await self._redis.xrevrange(DEAD_LETTERS, count=count)
        return [_parse(entry_id, fields) for entry_id, fields in entries]

    async def replay(self, entry_ids: list[str] | None, stream: str, maxlen: int) -> Replayed:
        """Move dead letters back onto the durable `stream` (all of them when `entry_ids` is
        None), a batch at a time so memory stays bounded whatever the store holds. Each move is
        atomic (XADD and XDEL in one transaction). Letters whose payload was truncated stay:
        replayed, they could only fail again."""
        moved = truncated = 0
        async for entry_id, fields in self._entries(entry_ids):
            if b"truncated" in fields:
                truncated += 1
                continue
            async with self._redis.pipeline(transaction=True) as pipe:
                add_to_stream(pipe, stream, fields[PAYLOAD_FIELD.encode()], maxlen)
                pipe.xdel(DEAD_LETTERS, entry_id)
                await pipe.execute()
            moved += 1
        return Replayed(moved, truncated)

    async def _entries(
        self, entry_ids: list[str] | None
    ) -> AsyncIterator[tuple[bytes, dict[bytes, bytes]]]:
        if entry_ids is not None:
            for wanted in entry_ids:
                found: Any = await self._redis.xrange(DEAD_LETTERS, wanted, wanted)
                for entry in found:
                    yield entry
            return
        start = "-"
        while True:
            batch: Any = await self._redis.xrange(DEAD_LETTERS, start, "+", count=REPLAY_BATCH)
            for entry in batch:
                yield entry
            if len(batch) < REPLAY_BATCH:
                return
            start = "(" + as_text(batch[-1][0])  # exclusive: after the last one read


def _parse(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    def get(name: str) -> str:
        return fields.get(name.encode(), b"").decode("utf-8", "replace")

    return DeadLetter(
        id=as_text(entry_id),
        payload=get("payload"),
        reason=get("reason"),
        attempts=int(get("attempts") or 0),
        source=get("source"),
        first_seen=float(get("first_seen") or 0),
        failed_at=float(get("failed_at") or 0),
        truncated=int(get("truncated") or 0),
    )
