"""In-process counters of what happened to notifications since start."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """What finally happened to one notification."""

    SENT = "sent"
    UNLINKED = "unlinked"  # no chat is linked to the user id
    BLOCKED = "blocked"  # Telegram said 403: the user blocked the bot; the link was removed
    FAILED = "failed"  # Telegram refused it or stayed unreachable
    INVALID = "invalid"  # the payload was not a valid notification
    DUPLICATE = "duplicate"  # its id was delivered before, within the idempotency window


@dataclass
class Stats:
    """Counts notifications received and their outcomes; read by logs and tests."""

    started_at: float = field(default_factory=time.monotonic)
    received: int = 0
    dead_lettered: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)

    def record(self, outcome: Outcome) -> None:
        self.outcomes[outcome] += 1

    def snapshot(self) -> dict[str, int]:
        """Counts by name, every outcome present (zero when none), for a log line."""
        counts = {o.value: self.outcomes[o] for o in Outcome}
        return {"received": self.received, **counts, "dead_lettered": self.dead_lettered}
