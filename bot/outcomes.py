"""What happens after a notification's fate is known: count it, log it, dead-letter it, remember
its id, publish a receipt, and acknowledge its stream entry. One place, whatever the source."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from bot.deadletters import DeadLetterStore
from bot.events import Notification, preview
from bot.idempotency import DeliveredIds
from bot.receipts import Receipts
from bot.stats import Outcome, Stats

log = structlog.get_logger(__name__)

PUBSUB, STREAM = "pubsub", "stream"

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
    source: str  # PUBSUB or STREAM
    entry_id: str | None = None  # the stream entry, to acknowledge once settled
    ack: Callable[[], Awaitable[None]] | None = None  # called once settled
    release: Callable[[], None] | None = None  # called when done with, settled or not
    notification: Notification | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def user_id(self) -> int | None:
        return self.notification.user_id if self.notification else None

    @property
    def id(self) -> str | None:
        return self.notification.id if self.notification else None


class Settler:
    """Records the final outcome of an envelope. Acknowledges a stream entry last, so a crash
    before that leaves the entry pending and it is delivered again (at least once)."""

    def __init__(
        self,
        stats: Stats,
        dead_letters: DeadLetterStore,
        receipts: Receipts,
        delivered: DeliveredIds,
    ) -> None:
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
        self._stats.record(outcome)
        context = {"user_id": envelope.user_id, "source": envelope.source}
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

        if outcome in DEAD_LETTER_OUTCOMES:
            await self._dead_letters.add(
                envelope.payload,
                reason or outcome.value,
                attempts,
                envelope.source,
                envelope.received_at,
            )
            self._stats.dead_lettered += 1
        if outcome is Outcome.SENT and envelope.id is not None:
            await self._delivered.remember(envelope.id)
        await self._receipts.publish(outcome, envelope.user_id, envelope.id)
        if envelope.ack is not None:
            await envelope.ack()
