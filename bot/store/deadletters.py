"""The dead-letter store: undeliverable notifications, kept for a look and a replay."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.client import PAYLOAD_FIELD, add_to_stream, as_text

DEAD_LETTERS = "notify:deadletters"  # stream: one entry per dead letter, oldest trimmed first


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


class DeadLetterStore:
    """Adds, lists and replays dead letters. At most `maxlen` are kept (oldest dropped)."""

    def __init__(self, client: redis.asyncio.Redis, maxlen: int) -> None:
        self._redis = client
        self._maxlen = maxlen

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
        fields: dict[Any, Any] = {
            "payload": payload,
            "reason": reason,
            "attempts": attempts,
            "source": source,
            "first_seen": f"{first_seen:.3f}",
            "failed_at": f"{time.time():.3f}",
        }
        pipe.xadd(DEAD_LETTERS, fields, maxlen=self._maxlen, approximate=False)

    async def count(self) -> int:
        return int(await self._redis.xlen(DEAD_LETTERS))

    async def latest(self, count: int = 20) -> list[DeadLetter]:
        """The newest dead letters first."""
        entries: Any = await self._redis.xrevrange(DEAD_LETTERS, count=count)
        return [_parse(entry_id, fields) for entry_id, fields in entries]

    async def replay(self, entry_ids: list[str] | None, stream: str, maxlen: int) -> int:
        """Move dead letters back onto the durable `stream` (all of them when `entry_ids` is None);
        returns how many were moved. Each move is atomic: XADD and XDEL in one transaction."""
        entries: Any = []
        if entry_ids is None:
            entries = await self._redis.xrange(DEAD_LETTERS)
        for entry_id in entry_ids or []:
            entries += await self._redis.xrange(DEAD_LETTERS, entry_id, entry_id)
        for entry_id, fields in entries:
            async with self._redis.pipeline(transaction=True) as pipe:
                add_to_stream(pipe, stream, fields[PAYLOAD_FIELD.encode()], maxlen)
                pipe.xdel(DEAD_LETTERS, entry_id)
                await pipe.execute()
        return len(entries)


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
    )
