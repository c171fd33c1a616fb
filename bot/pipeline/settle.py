"""What happens after a notification's fate is known: count it, log it, make the link changes
Telegram's answers called for, dead-letter it, remember its id, publish a receipt, and
acknowledge its stream entry. One place, whatever the source."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.loops.reconnect import Outage
from bot.notification.outcomes import Outcome
from bot.notification.parsing import preview
from bot.pipeline.envelope import Envelope
from bot.pipeline.results import LinkChange, Reached, Result
from bot.store import fanouts
from bot.store.actions import queue_discard
from bot.store.counters import Stats, queue_settled
from bot.store.deadletters import DeadLetterStore
from bot.store.memory import queue_forget, queue_remember
from bot.store.registry import ChatRegistry
from bot.store.reminders import lifetime
from bot.store.roundtrips import Queue, RoundTrips, TripLost

log = structlog.get_logger(__name__)

DELIVERED_PREFIX = "notify:delivered:"  # string per notification id, expires after the window

# Outcomes whose notification is kept in the dead-letter store for a look and a replay.
DEAD_LETTER_OUTCOMES = (Outcome.FAILED, Outcome.INVALID, Outcome.EXPIRED, Outcome.NOT_FOUND)

# Outcomes after which the notification's buttons are surely on no message. A failed one may
# have arrived all the same (a send that timed out): its buttons keep working.
# A held one gets a key of its own when it is released.
UNSHOWN_OUTCOMES = (
    Outcome.UNLINKED,
    Outcome.DUPLICATE,
    Outcome.BLOCKED,
    Outcome.EXPIRED,
    Outcome.MUTED,
    Outcome.HELD,
    Outcome.DIGESTED,
)

# Statuses a receipt can carry (a duplicate gets none: its first delivery had one).
RECEIPT_STATUSES = (
    Outcome.SENT,
    Outcome.UNLINKED,
    Outcome.BLOCKED,
    Outcome.FAILED,
    Outcome.INVALID,
    Outcome.EDITED,
    Outcome.DELETED,
    Outcome.CANCELLED,
    Outcome.NOT_FOUND,
    Outcome.EXPIRED,
    Outcome.SCHEDULED,
    Outcome.MUTED,
    Outcome.HELD,
    Outcome.DIGESTED,
    Outcome.UNACKNOWLEDGED,
)

EVENTS = {
    Outcome.SENT: "notification_sent",
    Outcome.UNLINKED: "notification_unlinked_user",
    Outcome.BLOCKED: "notification_blocked",
    Outcome.FAILED: "notification_failed",
    Outcome.INVALID: "notification_invalid",
    Outcome.DUPLICATE: "notification_duplicate",
    Outcome.EDITED: "notification_edited",
    Outcome.DELETED: "notification_deleted",
    Outcome.CANCELLED: "notification_cancelled",
    Outcome.NOT_FOUND: "notification_not_found",
    Outcome.EXPIRED: "notification_expired",
    Outcome.SCHEDULED: "notification_scheduled",
    Outcome.MUTED: "notification_muted",
    Outcome.HELD: "notification_held",
    Outcome.DIGESTED: "notification_digested",
    Outcome.ACKNOWLEDGED: "notification_acknowledged",
    Outcome.UNACKNOWLEDGED: "notification_unacknowledged",
}
# Outcomes that are what was asked for: logged at INFO.
QUIET_OUTCOMES = (
    Outcome.SENT,
    Outcome.EDITED,
    Outcome.DELETED,
    Outcome.CANCELLED,
    Outcome.SCHEDULED,
    Outcome.MUTED,
    Outcome.HELD,
    Outcome.DIGESTED,
    Outcome.ACKNOWLEDGED,
)
DONE_AT_TELEGRAM = (Outcome.SENT, Outcome.EDITED, Outcome.DELETED)
# A fan-out's summary counts each recipient's outcome as one of these; the rest are skipped.
# Held and digested ones go out later as notifications of their own: sent, as far as the
# fan-out goes.
FANOUT_SENT = (Outcome.SENT, Outcome.HELD, Outcome.DIGESTED)
FANOUT_FAILED = (Outcome.FAILED, Outcome.BLOCKED)


class Settler:
    """Records the final outcome of an envelope: first the link changes its chats' results
    carry (a 403 unlinks the chat, a migrated group's link follows it: `registry`), then
    in-process counts and a log line, then every other Redis write (dead letter, idempotency
    mark, all-time counters, last delivery, receipt, XACK) in one round trip (shared with
    other lanes': `trips`), the acknowledgement last. A crash before that leaves the stream entry
    pending, so it is delivered again (at least once).

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
        registry: ChatRegistry,
        redis: Outage,
        idempotency_window: int,
        memory_seconds: int = 7 * 24 * 3600,
        receipt_channel: str = "",
        on_sent: Callable[[float], None] | None = None,
    ) -> None:
        self._trips = trips
        self._outage = redis
        self._stats = stats
        self._dead_letters = dead_letters
        self._registry = registry
        self._window = idempotency_window
        self._memory_seconds = memory_seconds
        self._receipts = receipt_channel
        self._on_sent = on_sent

    async def settle(
        self,
        envelope: Envelope,
        outcome: Outcome,
        reason: str | None = None,
        attempts: int = 0,
        *,
        extra: Queue | None = None,
    ) -> None:
        """Record an outcome known without a delivery; `extra` queues more writes that belong
        to it (holding a scheduled notification) into the same round trip."""
        await self.settle_result(envelope, Result(outcome, reason, attempts), extra=extra)

    async def settle_result(
        self, envelope: Envelope, result: Result, *, extra: Queue | None = None
    ) -> None:
        for reached in result.chats:
            if reached.result.links:  # before it counts: whoever sees the count sees the link
                await self._change_links(reached.result.links)
        outcome, reason, attempts = result.outcome, result.reason, result.attempts
        if _a_step(envelope):
            self._stats.received -= 1  # a reminder's step or an acknowledgement: no notification
        else:
            self._stats.record(outcome)
            self._stats.dead_lettered += outcome in DEAD_LETTER_OUTCOMES
        if outcome is Outcome.SENT and self._on_sent is not None:
            self._on_sent(max(time.time() - envelope.received_at, 0))
        self._log(envelope, outcome, reason, attempts)

        def queue(pipe: Pipeline) -> None:
            if extra is not None:
                extra(pipe)
            self._queue(pipe, envelope, result)

        lost: list[int] = []

        async def write_once() -> None:
            # After a lost answer, first ask whether that trip ran: counters, a dead letter and
            # a receipt are written once, not again with the retry.
            for number in lost:
                if await self._trips.ran(number):
                    return
            try:
                await self._trips.run(queue, once=True)
            except TripLost as exc:
                lost.append(exc.number)
                raise

        await self._outage.until_up(write_once)
        if envelope.settled is not None and not envelope.settled.done():
            envelope.settled.set_result(outcome)

    async def _change_links(self, changes: tuple[LinkChange, ...]) -> None:
        """Make the link changes Telegram asked for, in order (a group may migrate, then refuse
        the bot). If Redis is down they are left undone, not waited for: the message's fate is
        known, and the next notification to that chat gets the same answer and tries again."""
        for change in changes:
            try:
                if change.moved_to is not None:
                    await self._registry.move_chat(change.chat_id, change.moved_to)
                if change.unlinked is not None:
                    await self._registry.unlink_chat(
                        change.chat_id, reason=change.unlinked, user_id=change.user_id
                    )
            except RedisError as exc:
                log.warning("link_update_failed", error=str(exc) or type(exc).__name__)

    def _queue(self, pipe: Pipeline, envelope: Envelope, result: Result) -> None:
        """Every Redis write of one outcome, made once (see `settle_result`)."""
        outcome, reason, attempts = result.outcome, result.reason, result.attempts
        step = _a_step(envelope)
        # A reminder's step is neither counted nor kept as a dead letter: replayed, it would
        # send a reminder out of turn; bot.pipeline.reminders counts what became of them.
        dead = outcome in DEAD_LETTER_OUTCOMES and not step
        if dead:
            self._dead_letters.queue_add(
                pipe,
                envelope.payload,
                reason=reason or outcome.value,
                attempts=attempts,
                source=envelope.source,
                first_seen=envelope.received_at,
            )
        if envelope.part is not None:
            self._queue_part(pipe, envelope, outcome)
        elif envelope.id is not None and not step:  # a step keeps its own (reminders.py)
            self._queue_memory(pipe, envelope, result)
        if envelope.action_key is not None and outcome in UNSHOWN_OUTCOMES:
            queue_discard(pipe, envelope.action_key)
        # Sent, or failed at Telegram: a chat was linked (a 403 removed the link already).
        linked = outcome in DONE_AT_TELEGRAM or (outcome is Outcome.FAILED and attempts > 0)
        if not step:
            queue_settled(pipe, outcome, envelope.user_id, reason, dead, linked=linked)
        self._queue_receipt(pipe, envelope, result)
        if envelope.ack is not None:
            envelope.ack(pipe)

    def _queue_memory(self, pipe: Pipeline, envelope: Envelope, result: Result) -> None:
        """The id's mark (send: delivered once) and what was sent for it (for edit, delete)."""
        notification_id, outcome = envelope.id, result.outcome
        assert notification_id is not None  # noqa: S101
        if outcome in (Outcome.SENT, Outcome.DIGESTED):
            pipe.set(DELIVERED_PREFIX + notification_id, "1", ex=self._window)
        if outcome not in DONE_AT_TELEGRAM:
            return
        # What each chat shows now: a chat an edit or a delete failed in keeps its memory.
        memories = tuple(reached.memory for reached in result.chats if reached.memory)
        seconds = self._memory_seconds
        remind = envelope.notification.remind if envelope.notification else None
        if remind is not None:  # kept until its last reminder is due, however far
            seconds = lifetime(remind.every, remind.times, seconds)
        if memories:
            queue_remember(pipe, notification_id, memories, seconds)
        else:
            queue_forget(pipe, notification_id)

    @staticmethod
    def _queue_part(pipe: Pipeline, envelope: Envelope, outcome: Outcome) -> None:
        """A fan-out recipient: counted in the fan-out's summary, once."""
        part = envelope.part
        assert part is not None  # noqa: S101
        if part.counted:
            return
        bucket = "skipped"
        if outcome in FANOUT_SENT:
            bucket = "sent"
        elif outcome in FANOUT_FAILED:
            bucket = "failed"
        elif outcome is Outcome.CANCELLED:
            bucket = "cancelled"
        fanouts.queue_settled(pipe, part.job, part.index, bucket)

    def _queue_receipt(self, pipe: Pipeline, envelope: Envelope, result: Result) -> None:
        outcome = result.outcome
        if not self._receipts or outcome not in RECEIPT_STATUSES:
            return
        notification = envelope.notification
        if envelope.part is not None and (notification is None or notification.receipts != "each"):
            return  # a fan-out reports once, at its end, unless asked for each recipient
        # The notification's receipt came with its send; an acknowledgement has its own
        # (bot.store.reminders), whoever made it. Of a reminder only its end is told.
        if _a_step(envelope) and outcome is not Outcome.UNACKNOWLEDGED:
            return
        receipt: dict[str, object] = {
            "id": envelope.id,
            "user_id": envelope.user_id,
            "status": outcome.value,
            "message_ids": list(result.message_ids),
        }
        if envelope.language is not None:
            receipt["language"] = envelope.language  # the template's language it was sent in
        if result.chats:
            # Per chat, by kind (a chat id is Telegram's business, not the web app's).
            receipt["chats"] = [_chat_receipt(reached) for reached in result.chats]
        pipe.publish(self._receipts, json.dumps(receipt))

    @staticmethod
    def _log(envelope: Envelope, outcome: Outcome, reason: str | None, attempts: int) -> None:
        context: dict[str, object] = {"user_id": envelope.user_id, "source": envelope.source}
        if envelope.id is not None:
            context["id"] = envelope.id
        if outcome in QUIET_OUTCOMES:
            log.info(EVENTS[outcome], attempts=attempts, **context)
        elif outcome is Outcome.INVALID:
            log.warning(
                EVENTS[outcome], reason=reason, preview=preview(envelope.payload), **context
            )
        elif outcome is Outcome.FAILED:
            log.error(EVENTS[outcome], reason=reason, attempts=attempts, **context)
        else:
            log.warning(EVENTS[outcome], reason=reason, **context)


def _a_step(envelope: Envelope) -> bool:
    """Whether it is a reminder's step or an acknowledgement, not a notification."""
    notification = envelope.notification
    return notification is not None and notification.op in ("remind", "ack")


def _chat_receipt(reached: Reached) -> dict[str, object]:
    part = reached.result
    entry: dict[str, object] = {
        "chat": reached.chat.kind,
        "status": part.outcome.value,
        "message_ids": list(part.message_ids),
    }
    if reached.chat.thread_id is not None:
        entry["topic"] = reached.chat.thread_id
    if part.reason and part.outcome not in DONE_AT_TELEGRAM:
        entry["reason"] = part.reason
    return entry
