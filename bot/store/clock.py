"""Redis's clock, as this process last read it. Instances' clocks drift apart and from Redis's
(a container's clock 120 s ahead sent `deliver_at` +60 s at once and expired stream entries with
`ttl: 60` on arrival): decisions about when go by Redis's clock, which stamps stream entry ids and
decides what the schedule releases."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class RedisClock:
    """`now()` is Redis's time: this process's clock plus the offset measured at the last
    heartbeat (Redis's TIME against the midpoint of the call). Until then, this process's."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset  # Redis's clock minus this process's, in seconds

    def observe(self, redis_ms: int, sent_at: float, answered_at: float) -> None:
        """Record Redis's TIME (in ms) as answered to a call made between the two local times."""
        self.offset = redis_ms / 1000 - (sent_at + answered_at) / 2

    def now(self) -> float:
        return time.time() + self.offset


def now_iso() -> str:
    """Now, as the events on the streams say when (UTC, ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
