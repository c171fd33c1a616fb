"""Counters of what happened to notifications: since start (in process) and all-time (Redis)."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.notification.outcomes import Outcome

STATS = "notify:stats"  # hash: counter name -> all-time count
LAST_DELIVERY = "notify:last_delivery"  # hash: user id -> JSON {"at", "outcome", "reason"}

# What became of notifications: each one received settles with one of these.
NOTIFICATION_OUTCOMES = tuple(
    o for o in Outcome if o not in (Outcome.ACKNOWLEDGED, Outcome.UNACKNOWLEDGED)
)
# What the chats said back and what became of reminders (bot.store.feedback and
# bot.store.reminders count them in Redis): no notification received. "acknowledged": pending
# reminders an acknowledgement stopped (a tap, a reply, a reaction, op ack), "unacknowledged":
# reminders that ended with none.
FEEDBACK_COUNTERS = ("reminders", "replies", "reactions", "acknowledged", "unacknowledged")

RATE_WINDOW = 10.0  # seconds over which the current send rate is measured


# Every counter, in the order logs and /stats show them.
COUNTERS = (
    "received",
    *(o.value for o in NOTIFICATION_OUTCOMES),
    "dead_lettered",
    *FEEDBACK_COUNTERS,
)


@dataclass
class Stats:
    """Counts since start, and the send rate of the last few seconds."""

    started_at: float = field(default_factory=time.monotonic)
    received: int = 0
    dead_lettered: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    feedback: Counter[str] = field(default_factory=Counter)  # FEEDBACK_COUNTERS
    last_sent_at: float | None = None  # time.time() of the last notification sent
    _recent_sends: deque[float] = field(default_factory=deque)

    def record(self, outcome: Outcome) -> None:
        self.outcomes[outcome] += 1
        if outcome is Outcome.SENT:
            self.last_sent_at = round(time.time(), 3)
            now = time.monotonic()
            self._recent_sends.append(now)
            self._forget_before(now - RATE_WINDOW)

    def send_rate(self) -> float:
        """Notifications sent per second over the last RATE_WINDOW seconds."""
        self._forget_before(time.monotonic() - RATE_WINDOW)
        return len(self._recent_sends) / RATE_WINDOW

    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def _forget_before(self, cutoff: float) -> None:
        while self._recent_sends and self._recent_sends[0] < cutoff:
            self._recent_sends.popleft()

    def snapshot(self) -> dict[str, int]:
        """Counts by name (COUNTERS, in that order, zero when none), for a log line."""
        counts = {o.value: self.outcomes[o] for o in NOTIFICATION_OUTCOMES}
        counts |= {"received": self.received, "dead_lettered": self.dead_lettered}
        counts |= {name: self.feedback[name] for name in FEEDBACK_COUNTERS}
        return {name: counts[name] for name in COUNTERS}


def queue_settled(
    pipe: Pipeline,
    outcome: Outcome,
    user_id: int | None,
    reason: str | None,
    dead_lettered: bool,
    *,
    linked: bool,
) -> None:
    """Queue the all-time counters for one settled notification, and the user's last delivery
    when the user is `linked` (per-user state exists only for linked users and goes with the
    link: a flood of unknown ids must not grow it)."""
    # No "received" counter: every notification settles with exactly one outcome, counted in
    # the same round trip, so all_time sums them (one command fewer per notification).
    pipe.hincrby(STATS, outcome.value, 1)
    if dead_lettered:
        pipe.hincrby(STATS, "dead_lettered", 1)
    if user_id is not None and linked:
        last = {"at": round(time.time(), 3), "outcome": outcome.value, "reason": reason}
        pipe.hset(LAST_DELIVERY, str(user_id), json.dumps(last))


async def all_time(client: redis.asyncio.Redis) -> dict[str, int]:
    """The all-time counters, every name present."""
    raw: Any = await client.hgetall(STATS)
    stored = {key.decode(): int(value) for key, value in raw.items()}
    counts = {name: stored.get(name, 0) for name in COUNTERS}
    counts["received"] = sum(stored.get(outcome.value, 0) for outcome in NOTIFICATION_OUTCOMES)
    return counts


async def last_delivery(client: redis.asyncio.Redis, user_id: int) -> dict[str, Any] | None:
    raw = await client.hget(LAST_DELIVERY, str(user_id))
    return json.loads(raw) if raw is not None else None
