"""What happens after a notification's fate is known: count it, log it, dead-letter it, remember
its id, publish a receipt, and acknowledge its stream entry. One place, whatever the source."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import structlog
from redis.asyncio.client import Pipeline

from bot.notification import Envelope, Outcome, preview
from bot.sources.reconnect import Outage
from bot.store.actions import queue_discard
from bot.store.counters import Stats, queue_settled
from bot.store.deadletters import DeadLetterStore
from bot.store.roundtrips import RoundTrips

log = structlog.get_logger(__name__)

DELIVERED_PREFIX = "notify:delivered:"  # string per notification id, expires after the window

# Outcomes whose notification is kept in the dead-letter store for a look and a replay.
DEAD_LETTER_OUTCOMES = (Outcome.FAILED, Outcome.INVALID)

# Outcomes after which the notification's buttons are surely on no message. A failed one may
# have arrived all the same (a send that timed out): its buttons keep working.
UNSHOWN_OUTCOMES = (Outcome.UNLINKED, Outcome.DUPLICATE, Outcome.BLOCKED)

# Statuses a receipt can carry (a duplicate gets none: its first delivery had one).
RECEIPT_STATUSES = (
    Outcome.SENT,
    Outcome.UNLINKED,
    Outcome.BLOCKED,
    Outcome.FAILED,
    Outcome.INVALID,
)

EVENTS = {
    Outcome.SENT: "notification_sent",
    Outcome.UNLINKED: "notification_unlinked_user",
    Outcome.BLOCKED: "notification_blocked",
    Outcome.FAILED: "notification_failed",
    Outcome.INVALID: "notification_invalid",
    Outcome.DUPLICATE: "notification_duplicate",
}


class Settler:
    """Records the final outcome of an envelope: in-process counts and a log line first, then
    every Redis write (dead letter, idempotency mark, all-time counters, last delivery, receipt,
    XACK) in one round trip (shared with other lanes': `trips`), the acknowledgement last. A
    crash before that leaves the stream entry pending, so it is delivered again (at least
    once).

    While Redis is down (`redis`, the shared Outage) the writes wait for it and are made once it
    is back: an outcome that is known is never lost, nor turned into a "crash" that would send
    it again. The caller (the user's lane) waits meanwhile, so the user's order is kept.

    Ids are remembered for `idempotency_window` seconds. Receipts (`{"id", "user_id", "status",
    "message_ids"}`) go to `receipt_channel`; an empty name turns them off. `on_sent` is told each
    sent notification's latency from receipt to Telegram's answer (the metrics histogram).
    """

    def __init__(
        self,
        trips: RoundTrips,
        stats: Stats,
        dead_letters: DeadLetterStore,
        *,
        redis: Outage,
        idempotency_window: int,
        receipt_channel: str = "",
        on_sent: Callable[[float], None] | None = None,
    ) -> None:
        self._trips = trips
        self._outage = redis
        self._stats = stats
        self._dead_letters = dead_letters
        self._window = idempotency_window
        self._receipts = receipt_channel
        self._on_sent = on_sent

    async def settle(
        self,
        envelope: Envelope,
        outcome: Outcome,
        reason: str | None = None,
        attempts: int = 0,
        *,
        message_ids: tuple[int, ...] = (),
    ) -> None:
        dead = outcome in DEAD_LETTER_OUTCOMES
        self._stats.record(outcome)
        self._stats.dead_lettered += dead
        if outcome is Outcome.SENT and self._on_sent is not None:
            self._on_sent(max(time.time() - envelope.received_at, 0))
        self._log(envelope, outcome, reason, attempts)

        def queue(pipe: Pipeline) -> None:
            self._queue(pipe, envelope, outcome, reason, attempts, message_ids=message_ids)

        await self._outage.until_up(lambda: self._trips.run(queue))
        if envelope.settled is not None and not envelope.settled.done():
            envelope.settled.set_result(outcome)

    def _queue(
        self,
        pipe: Pipeline,
        envelope: Envelope,
        outcome: Outcome,
        reason: str | None,
        attempts: int,
        *,
        message_ids: tuple[int, ...],
    ) -> None:
        """Every Redis write of one outcome. Repeated after a connection error: the XACK and
        the id mark are idempotent; the counters and a dead letter can be written twice if
        Redis ran the commands but the answer was lost on the way back."""
        dead = outcome in DEAD_LETTER_OUTCOMES
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
            pipe.set(DELIVERED_PREFIX + envelope.id, "1", ex=self._window)
        if envelope.action_key is not None and outcome in UNSHOWN_OUTCOMES:
            queue_discard(pipe, envelope.action_key)
        # Sent, or failed at Telegram: a chat was linked (a 403 removed the link already).
        linked = outcome is Outcome.SENT or (outcome is Outcome.FAILED and attempts > 0)
        queue_settled(pipe, outcome, envelope.user_id, reason, dead, linked=linked)
        self._queue_receipt(pipe, envelope, outcome, message_ids)
        if envelope.ack is not None:
            envelope.ack(pipe)

    def _queue_receipt(
        self, pipe: Pipeline, envelope: Envelope, outcome: Outcome, message_ids: tuple[int, ...]
    ) -> None:
        if not self._receipts or outcome not in RECEIPT_STATUSES:
            return
        receipt = {
            "id": envelope.id,
            "user_id": envelope.user_id,
            "status": outcome.value,
            "message_ids": list(message_ids),
        }
        pipe.publish(self._receipts, json.dumps(receipt))

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
