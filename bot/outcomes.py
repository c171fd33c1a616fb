"""What happens after a notification's fate is known: count it, log it, dead-letter it, remember
its id, publish a receipt, and acknowledge its stream entry. One place, whatever the source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio
import structlog
from redis.asyncio.client import Pipeline

from bot.deadletters import DeadLetterStore
from bot.events import Notification, preview
from bot.idempotency import DeliveredIds
from bot.metrics import Metrics
from bot.receipts import Receipts
from bot.stats import Outcome, Stats, queue_settled

log = structlog.get_logger(__name__)

PUBSUB, STREAM, ADMIN = "pubsub", "stream", "admin"

# Outcomes whose notification is kept in the dead-letter store for a look and a replay.
DEAD_LETTER_OUTCOMES = (Outcome.FAILED, Outcome.INVALID)

EVENTS = {
    Outcome.SENT: "notification_sent",
    Outcome.UNLINKED: "notification_unlinked_user",
    Outcome.BLOCKED: "notification_blocked",
    Outcome.FAILED: "notification_failed",
    Outcome.INVALID: "notification_invalid",
    Outcome.DUPLICATE: "notification_duplicate",
}


@dataclass
class Envelope:
    """A raw payload from one source, with what is known about it so far."""

    payload: bytes | str
    source: str  # PUBSUB, STREAM or ADMIN
    ack: Callable[[Pipeline], object] | None = None  # queues the XACK when settled
    release: Callable[[], None] | None = None  # called when done with, settled or not
    notification: Notification | None = None
    received_at: float = field(default_factory=time.time)
    # Resolved with the outcome once settled, for whoever waits on it (an admin's /send).
    settled: asyncio.Future[Outcome] | None = None

    @property
    def user_id(self) -> int | None:
        return self.notification.user_id if self.notification else None

    @property
    def id(self) -> str | None:
        return self.notification.id if self.notification else None


class Settler:
    """Records the final outcome of an envelope: in-process counts and a log line first, then
    every Redis write (dead letter, idempotency mark, all-time counters, last delivery, receipt,
    XACK) in one round trip, the acknowledgement last. A crash before that leaves the stream
    entry pending, so it is delivered again (at least once)."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stats: Stats,
        dead_letters: DeadLetterStore,
        receipts: Receipts,
        delivered: DeliveredIds,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._redis = client
        self._metrics = metrics
        self._stats = stats
        self._dead_letters = dead_letters
        self._receipts = receipts
        self._delivered = delivered

    async def already_delivered(self, envelope: Envelope) -> bool:
        """True if the envelope's id was sent within the idempotency window."""
        return envelope.id is not None and await self._delivered.seen(envelope.id)

    async def settle(
        self, envelope: Envelope, outcome: Outcome, reason: str | None = None, attempts: int = 0
    ) -> None:
        dead = outcome in DEAD_LETTER_OUTCOMES
        self._stats.record(outcome)
        self._stats.dead_lettered += dead
        if outcome is Outcome.SENT and self._metrics is not None:
            self._metrics.delivery_latency.observe(max(time.time() - envelope.received_at, 0))
        self._log(envelope, outcome, reason, attempts)
        async with self._redis.pipeline(transaction=False) as pipe:
            if dead:
                self._dead_letters.queue_add(
                    pipe,
                    envelope.payload,
                    reason=reason or outcome.value,
                    attempts=attempts,
                    source=envelope.source,
                    first_seen=envelope.received_at,
                )
            if outcome is Outcome.SENT and envelope.id is not None:
                self._delivered.queue_remember(pipe, envelope.id)
            queue_settled(pipe, outcome, envelope.user_id, reason, dead)
            self._receipts.queue(pipe, outcome, envelope.user_id, envelope.id)
            if envelope.ack is not None:
                envelope.ack(pipe)
            await pipe.execute()
        if envelope.settled is not None and not envelope.settled.done():
            envelope.settled.set_result(outcome)

    @staticmethod
    def _log(envelope: Envelope, outcome: Outcome, reason: str | None, attempts: int) -> None:
        context: dict[str, object] = {"user_id": envelope.user_id, "source": envelope.source}
        if envelope.id is not None:
            context["id"] = envelope.id
        if outcome is Outcome.SENT:
            log.info(EVENTS[outcome], attempts=attempts, **context)
        elif outcome is Outcome.INVALID:
            log.warning(
                EVENTS[outcome], reason=reason, preview=preview(envelope.payload), **context
            )
        elif outcome is Outcome.FAILED:
            log.error(EVENTS[outcome], reason=reason, attempts=attempts, **context)
        else:
            log.warning(EVENTS[outcome], reason=reason, **context)
