"""One notification's way from the head of its lane to its settle: read what it needs, apply the
user's preferences, wait for a send slot, deliver, and settle the outcome."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio.client import Pipeline

from bot.loops.reconnect import Outage
from bot.loops.turns import Turns
from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed
from bot.notification.schema import Notification
from bot.pipeline.envelope import Envelope
from bot.pipeline.plan import Plan, Planner
from bot.pipeline.reads import BeforeSend, Reader
from bot.pipeline.reminders import Reminding
from bot.pipeline.results import Result, Target
from bot.pipeline.settle import Settler
from bot.pipeline.templating import Templating
from bot.store.actions import ActionStore
from bot.store.clock import RedisClock
from bot.store.roundtrips import Queue, RoundTrips, in_order
from bot.templates.render import RenderError

log = structlog.get_logger(__name__)

# A chat read this long before the send is read again: a link changed meanwhile (a user who
# linked another chat, or was unlinked) is followed as if the read had come just before.
REREAD_AFTER = 1.0

# Sends a notification to the chat its user is linked to (or edits or deletes what was sent for
# its id), as the Target read before says.
Deliver = Callable[[Parsed, Target], Awaitable[Result]]


class DeliverySteps:
    """Takes one notification through its steps. A slot (`slots`) is a send in flight: neither
    Redis trip holds one, so sends follow each other without waiting for Redis; as many again
    may have read and wait for a slot (`ahead`). After a wait longer than `reread_after` the
    reads are made again: a link changed meanwhile is followed. `on_hold` is told when one was
    kept in Redis for later (quiet hours, a digest)."""

    def __init__(
        self,
        deliver: Deliver,
        settler: Settler,
        planner: Planner,
        *,
        trips: RoundTrips,
        redis: Outage,
        actions: ActionStore | None,
        clock: RedisClock,
        slots: Turns,
        ahead: Turns,
        reread_after: float,
        on_hold: Callable[[], None],
        templating: Templating | None = None,
        reminding: Reminding | None = None,
    ) -> None:
        self._deliver = deliver
        self._settler = settler
        self._planner = planner
        self._reader = Reader(trips, redis, actions)
        self._actions = actions
        self._clock = clock
        self._slots = slots
        self._ahead = ahead
        self._reread_after = reread_after
        self._on_hold = on_hold
        self._templating = templating
        self._reminding = reminding

    async def run(self, envelope: Envelope) -> None:
        """Deliver and settle `envelope`; a delivery that crashes is settled as failed, so
        that one broken delivery (e.g. Redis gone mid-lookup) never stops the user's lane."""
        parsed = envelope.parsed
        assert parsed is not None  # set by accept  # noqa: S101
        rank = envelope.rank
        try:
            if await self._reminder_op(envelope, parsed.notification):
                return
            # One Redis round trip before the send, one after (the settle).
            async with self._ahead.turn(rank):
                before = await self._reader.before_send(envelope)
                result = before.skip()
                # Rendered even with no chat linked yet: one may be linked by the read again
                # after a wait for a slot, and nothing may go out unrendered.
                if result is None and parsed.rendering is not None:
                    parsed, result = self._render(envelope, parsed, before)
                if _nothing_to_plan(parsed.notification, before, result):
                    plan = Plan(parsed)  # the common case, kept short
                else:
                    plan = self._planner.plan(
                        envelope,
                        before.preferences,
                        before.digest,
                        before.digest_dropped,
                        before.telegram_language,
                    )
                    result = plan.result
                if result is None:
                    read_at = time.monotonic()
                    async with self._slots.turn(rank):
                        if time.monotonic() - read_at > self._reread_after:
                            # Waited long (sends held by pacing): the link may have changed.
                            before = await self._reader.before_send(envelope)
                            result = before.skip()
                        if result is None:
                            expires = envelope.expires
                            target = Target(
                                before.chats,
                                envelope.action_key,
                                before.memory,
                                None if expires is None else expires - self._clock.offset,
                                rank,
                                plan.mute,
                            )
                            result = await self._deliver(plan.parsed, target)
            if envelope.part is not None and before.counted:
                envelope.part.counted = True
            extra = self._with_shows(envelope, before, result, plan.after(result))
            extra = in_order(extra, self._for_reminders(envelope, before, result))
            await self._settler.settle_result(envelope, result, extra=extra)
            if plan.holds:
                self._on_hold()
        except Exception as exc:
            log.exception("delivery_crashed", user_id=envelope.user_id, source=envelope.source)
            await self._settle_crashed(envelope, exc)

    def _for_reminders(
        self, envelope: Envelope, before: BeforeSend, result: Result
    ) -> Queue | None:
        """What a send (its messages noted, its reminders held), an edit (what they show) or
        a delete (no more) with an id writes for the replies, reactions and reminders."""
        reminding, notification = self._reminding, envelope.notification
        if reminding is None or notification is None or notification.id is None:
            return None
        if notification.op in ("edit", "delete"):
            return reminding.after_change(envelope, before.reminders, result)
        return reminding.after_send(envelope, result)

    async def _reminder_op(self, envelope: Envelope, notification: Notification) -> bool:
        """Take a reminder's step or an acknowledgement (True), or refuse reminders where
        there is no schedule to keep them in; False for everything else."""
        op = notification.op
        if op not in ("remind", "ack") and notification.remind is None:
            return False
        reminding = self._reminding
        if reminding is None or not reminding.scheduled:
            why = f"{'remind' if op == 'send' else op} needs NOTIFICATION_STREAM (the schedule)"
            await self._settler.settle(envelope, Outcome.INVALID, why)
            return True
        if op == "send":
            return False
        await (reminding.remind if op == "remind" else reminding.ack)(envelope)
        return True

    def _render(
        self, envelope: Envelope, parsed: Parsed, before: BeforeSend
    ) -> tuple[Parsed, Result | None]:
        """A templated notification rendered in its user's language and time zone (the
        envelope then carries it, for the plan and the receipt), or why it cannot be."""
        templating = self._templating
        assert templating is not None  # a rendering is made only by it  # noqa: S101
        preferences = before.preferences
        try:
            rendered, language = templating.for_reader(
                parsed,
                preferences.language if preferences else None,
                before.telegram_language,
                preferences.timezone if preferences else None,
            )
        except RenderError as exc:
            return parsed, Result(Outcome.INVALID, str(exc))
        envelope.parsed, envelope.language = rendered, language
        return rendered, None

    def _with_shows(
        self, envelope: Envelope, before: BeforeSend, result: Result, extra: Queue | None
    ) -> Queue | None:
        """`extra`, and in the same trip which messages show which action key now: a send's
        new messages its key, an edit's messages the new key (or none), a delete's none."""
        actions, notification = self._actions, envelope.notification
        if actions is None or notification is None:
            return extra
        op, key = notification.op, envelope.action_key
        if op == "send" and result.outcome is Outcome.SENT and key is not None:
            messages = _messages_of(result)
        elif (op, result.outcome) in (("edit", Outcome.EDITED), ("delete", Outcome.DELETED)):
            messages = [(m.chat_id, i) for m in before.memory or () for i in m.message_ids]
            if op == "edit":  # an edit that grew sends parts of its own: the keyboard is there
                messages += [pair for pair in _messages_of(result) if pair not in messages]
            else:
                key = None
        else:
            return extra

        def queue(pipe: Pipeline) -> None:
            if extra is not None:
                extra(pipe)
            actions.queue_shows(pipe, messages, key)

        return queue

    async def _settle_crashed(self, envelope: Envelope, exc: Exception) -> None:
        """Dead-letter a notification whose delivery crashed, so it is not lost. If Redis is
        what failed, that fails too: a stream entry then stays pending and is retried later."""
        try:
            await self._settler.settle(
                envelope, Outcome.FAILED, f"delivery crashed: {type(exc).__name__}: {exc}"
            )
        except Exception:
            # Counted (settle counts first); only the Redis writes were lost.
            log.exception("delivery_crash_not_recorded", user_id=envelope.user_id)


def _nothing_to_plan(notification: Notification, before: BeforeSend, result: Result | None) -> bool:
    """Whether the user's preferences have no say: it is settled already (a duplicate, a
    cancelled fan-out's recipient), nobody is linked to get it (unlinked, not muted or held),
    or neither a category nor preferences are there. A digest's flush always plans: it is what
    sends the lines."""
    if notification.op == "digest":
        return False
    if result is not None or not before.chats:
        return True
    return notification.category is None and before.preferences is None


def _messages_of(result: Result) -> list[tuple[int, int]]:
    """(chat id, message id) of every message a send made, in each of the user's chats."""
    if result.chats:  # a group that became a supergroup meanwhile answers from its new id
        return [
            (r.result.chat_id or r.chat.chat_id, i)
            for r in result.chats
            for i in r.result.message_ids
        ]
    if result.chat_id is None:
        return []
    return [(result.chat_id, i) for i in result.message_ids]
