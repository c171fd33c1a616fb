"""Between sources and Telegram: take notifications in (settling at once those that need no
send), and run each one's steps (bot.pipeline.steps) in its user's lane: side by side across
users, in order per user."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from bot.loops.reconnect import Outage, stop_if_cancelled
from bot.loops.turns import Turns
from bot.notification.outcomes import Outcome
from bot.notification.parsing import InvalidNotification
from bot.notification.schema import MESSAGE_MAX_CHARS, REMIND_MIN_SECONDS, Notification
from bot.pipeline.envelope import PUBSUB, Envelope
from bot.pipeline.parsing import Parser
from bot.pipeline.plan import Planner
from bot.pipeline.reminders import Reminding
from bot.pipeline.settle import Settler
from bot.pipeline.steps import REREAD_AFTER, Deliver, DeliverySteps
from bot.pipeline.templating import Templating
from bot.store import fanouts
from bot.store.actions import ActionStore, new_key
from bot.store.clock import RedisClock
from bot.store.counters import Stats
from bot.store.feedback import FeedbackStore
from bot.store.reminders import queue_stop
from bot.store.roundtrips import RoundTrips
from bot.store.schedule import ScheduleStore

log = structlog.get_logger(__name__)

# A notification deliver_at less than this far ahead is sent now rather than held.
SCHEDULE_AFTER = 0.5

# Takes a fan-out entry on (bot.pipeline.fanout): it is stored and run from Redis.
StartFanOut = Callable[[Envelope], Awaitable[None]]


class Dispatcher:
    """Runs deliveries for different users side by side (at most `concurrency` at once) while
    each user's notifications go out one after another, in the order they arrived.

    Slow sends never hold up a source: `accept` only parses and queues. Before its send a
    notification costs one Redis round trip, shared with the other lanes' (`trips`), after it
    one more (the settle); while Redis is down it waits (`redis`, the shared Outage).
    """

    def __init__(
        self,
        deliver: Deliver,
        settler: Settler,
        stats: Stats,
        concurrency: int,
        *,
        trips: RoundTrips,
        redis: Outage,
        actions: ActionStore | None = None,
        schedule: ScheduleStore | None = None,
        planner: Planner | None = None,
        pause_buffer: int = 10_000,
        max_chars: int = MESSAGE_MAX_CHARS,
        clock: RedisClock | None = None,
        reread_after: float = REREAD_AFTER,
        templating: Templating | None = None,
        remind_min_seconds: int = REMIND_MIN_SECONDS,
        feedback: FeedbackStore | None = None,
        memory_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self._trips = trips
        self._redis = redis
        self._settler = settler
        self._stats = stats
        self._schedule = schedule
        self.planner = planner or Planner(schedule=schedule)
        self.start_fan_out: StartFanOut | None = None  # set by the wiring (app.py)
        self.on_hold: Callable[[], None] | None = None  # told when one is held for later
        self.clock = clock or RedisClock()  # what is due or expired goes by Redis's clock
        reminding = None
        if feedback is not None:
            reminding = Reminding(
                deliver,
                settler,
                self.planner,
                feedback,
                trips=trips,
                redis=redis,
                clock=self.clock,
                stats=stats,
                memory_seconds=memory_seconds,
                max_chars=max_chars,
                actions=actions,
                templating=templating,
                scheduled=schedule is not None,
            )
        self._steps = DeliverySteps(
            deliver,
            settler,
            self.planner,
            trips=trips,
            redis=redis,
            actions=actions,
            clock=self.clock,
            # Both queues go by priority (bot.loops.turns): high first, bulk never starved.
            # As many lanes again as there are slots may have read and wait for one: enough
            # to keep the slots busy, few enough that their wait is about one send long.
            slots=Turns(concurrency),
            ahead=Turns(2 * concurrency),  # reading, waiting for a slot, sending
            reread_after=reread_after,
            on_hold=self._tell_held,
            templating=templating,
            reminding=reminding,
        )
        self._lanes: dict[int, deque[Envelope]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = asyncio.Event()
        self._running.set()
        self._clear = asyncio.Event()  # cleared while a new leader waits for the old one
        self._clear.set()
        self._started: set[int] = set()  # users whose lane's first is being delivered
        self._none_started = asyncio.Event()  # set whenever `_started` becomes empty
        self._pause_buffer = pause_buffer
        # Off the loop when long (hostile Markdown); a template's notification checked there.
        self.parser = Parser(max_chars, templating, remind_min_seconds)
        self._queued_pubsub = 0
        self.activity = asyncio.Event()  # set by every accept: wakes whoever waits for work

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Hold deliveries that have not started. Stream entries wait in Redis (the consumer
        stops reading once its in-flight limit is reached); pub/sub notifications are held in
        memory up to `pause_buffer`, beyond which they are dead-lettered."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def hold(self) -> None:
        """Start no delivery until `release_hold`: a new leader waits for the instance before
        it to settle what it still holds, so that no chat gets messages from two instances at
        once and each user's order is kept. Unlike `pause`, an admin's /resume does not end it."""
        self._clear.clear()

    def release_hold(self) -> None:
        self._clear.set()

    @property
    def held(self) -> bool:
        """Whether deliveries wait for `release_hold` (a new leader taking over)."""
        return not self._clear.is_set()

    def take_held(self) -> list[Envelope]:
        """End a hold without delivering: every envelope not yet started is taken out of its
        lane and returned (in each user's order), and the hold is released for those under
        way. For a leader that lost its lock before it could start: what it accepted goes to
        the next one instead of beside it."""
        taken: list[Envelope] = []
        for user_id, lane in self._lanes.items():
            keep = 1 if user_id in self._started else 0
            while len(lane) > keep:
                envelope = lane.pop()
                self._forget(envelope)
                taken.append(envelope)
        taken.reverse()
        for envelope in taken:
            _release(envelope)  # a stream entry stays pending, for the next leader
        self._clear.set()  # lanes left empty end; those under way finish their first
        return taken

    @property
    def redis(self) -> Outage:
        """Redis as the lanes see it: down while they wait for it to answer again."""
        return self._redis

    @property
    def pending(self) -> int:
        """Notifications accepted but not yet settled."""
        return sum(len(lane) for lane in self._lanes.values())

    async def accept(self, envelope: Envelope) -> None:
        """Take one envelope from a source: a bad payload is settled as invalid, a good one
        queued behind any earlier ones for the same user."""
        self._stats.received += 1
        self.activity.set()
        try:
            # A fan-out's recipient comes parsed (from the fan-out's own notification).
            if envelope.parsed is None:
                envelope.parsed = await self.parser.parse(envelope.payload)
        except InvalidNotification as exc:
            try:
                await self._settle_here(envelope, Outcome.INVALID, exc.reason)
            finally:
                _release(envelope)
            return
        if not await self._for_a_lane(envelope):
            return
        if envelope.source == PUBSUB:
            if self.paused and self._queued_pubsub >= self._pause_buffer:
                await self._settle_here(envelope, Outcome.FAILED, "paused and the buffer is full")
                return
            self._queued_pubsub += 1
        user_id = envelope.parsed.notification.user_id
        assert user_id is not None  # one user's: the others were taken on above  # noqa: S101
        lane = self._lanes.get(user_id)
        if lane is not None:
            lane.append(envelope)
            return
        self._lanes[user_id] = deque([envelope])
        task = asyncio.create_task(self._drain_lane(user_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _for_a_lane(self, envelope: Envelope) -> bool:
        """Whether `envelope` goes into its user's lane; if not, it is settled (or taken on
        by the fan-out runner) here: a cancel, a fan-out, one for later or one too late."""
        notification = envelope.notification
        assert notification is not None  # noqa: S101
        due = notification.deliver_at
        to_lane = False
        # Redis's clock: this process's plus the offset the heartbeat measured (bot.store.clock).
        offset = self.clock.offset
        if envelope.published_at is None:  # pub/sub: received now
            envelope.published_at = envelope.received_at + offset
        now = time.time() + offset
        try:
            if notification.op == "cancel":
                await self._cancel(envelope, notification)
            elif due is not None and not envelope.released and due > now + SCHEDULE_AFTER:
                await self._hold(envelope, notification, due)
            elif (expires := envelope.expires) is not None and now >= expires:
                await self._settle_here(envelope, Outcome.EXPIRED, "expired before it was read")
            elif notification.fan_out:
                if self.start_fan_out is None:
                    reason = "fan-outs are not run here"
                    await self._settle_here(envelope, Outcome.INVALID, reason)
                else:
                    await self.start_fan_out(envelope)
            else:
                to_lane = True
        finally:
            # Also when it raised or was cancelled (Redis gone mid-way, a step-down): a stream
            # entry not released would count as held for good, and no leader would follow.
            if not to_lane:
                _release(envelope)
        return to_lane

    async def _hold(self, envelope: Envelope, notification: Notification, due: float) -> None:
        """Keep it in Redis until `due`, in the round trip that settles it as scheduled."""
        schedule = self._schedule
        if schedule is None:
            reason = "deliver_at needs NOTIFICATION_STREAM (scheduled ones are released there)"
            await self._settle_here(envelope, Outcome.INVALID, reason)
            return
        key = notification.id or f"~{new_key()}"

        def hold(pipe: Pipeline) -> None:
            schedule.queue_hold(pipe, key, envelope.rank, due, envelope.payload)

        await self._settle_here(envelope, Outcome.SCHEDULED, f"until {due:.3f}", extra=hold)
        self._tell_held()

    def _tell_held(self) -> None:
        if self.on_hold is not None:
            self.on_hold()

    async def _cancel(self, envelope: Envelope, notification: Notification) -> None:
        """Remove a held notification with the id and stop a fan-out with it."""
        notification_id = notification.id
        assert notification_id is not None  # the model requires it  # noqa: S101
        schedule = self._schedule

        def cancel(pipe: Pipeline) -> None:
            if schedule is not None:
                schedule.queue_cancel(pipe, notification_id)
            fanouts.queue_cancel(pipe, notification_id)
            queue_stop(pipe, notification_id)

        replies = await self._redis.until_up(lambda: self._trips.run(cancel))
        if any(int(reply) for reply in replies):
            await self._settle_here(envelope, Outcome.CANCELLED)
        else:
            reason = "nothing scheduled or fanning out has this id"
            await self._settle_here(envelope, Outcome.NOT_FOUND, reason)

    async def _settle_here(
        self,
        envelope: Envelope,
        outcome: Outcome,
        reason: str | None = None,
        *,
        extra: Callable[[Pipeline], None] | None = None,
    ) -> None:
        """Settle in the source's own task. An error Redis answers (not an outage: those are
        waited out) is logged, never raised into the source, which would stop reading: the
        outcome is counted already, and a stream entry stays pending to be tried again."""
        try:
            await self._settler.settle(envelope, outcome, reason, extra=extra)
        except RedisError as exc:
            log.error("settle_failed", error=str(exc), source=envelope.source)  # noqa: TRY400

    async def _drain_lane(self, user_id: int) -> None:
        lane = self._lanes[user_id]
        try:
            while lane:
                stop_if_cancelled()
                await self._running.wait()
                await self._clear.wait()
                if not lane:
                    break  # given back while held (take_held)
                self._started.add(user_id)
                envelope = lane[0]
                try:
                    await self._steps.run(envelope)
                finally:
                    _release(envelope)
                    self._started.discard(user_id)
                    if not self._started:
                        self._none_started.set()
                self._forget(lane.popleft())
        finally:
            # No await between the empty check and this: a concurrent accept cannot be lost.
            for envelope in self._lanes.pop(user_id):
                self._forget(envelope)

    def _forget(self, envelope: Envelope) -> None:
        if envelope.source == PUBSUB:
            self._queued_pubsub -= 1

    async def drain(self, grace: float, finishing: float = 0.0) -> list[Envelope]:
        """Wait up to `grace` s for queued deliveries; then start no more and give those under
        way up to `finishing` s more (a send cut off in flight may have reached the chat and
        would be sent again); cancel the rest and return what never went out."""
        if self._tasks:
            log.info("delivery_draining", pending=self.pending)
            await asyncio.wait(set(self._tasks), timeout=grace)
        if self._tasks and finishing > 0 and self._started:
            self.hold()  # no lane starts another; a held lane waits, so wait for the sends
            self._none_started.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._none_started.wait(), finishing)
        left = [envelope for lane in self._lanes.values() for envelope in lane]
        if left:
            # A lane's first that is still under way may be on its way to Telegram, or sent and
            # waiting for Redis to record it: given back, it is sent again. The rest never
            # started.
            started = [self._lanes[user][0] for user in self._started if self._lanes.get(user)]
            log.warning(
                "delivery_abandoned",
                pending=len(left),
                grace_seconds=grace,
                may_repeat=[envelope.id or f"user {envelope.user_id}" for envelope in started],
            )
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return left


def _release(envelope: Envelope) -> None:
    if envelope.release is not None:
        envelope.release()
    if envelope.settled is not None and not envelope.settled.done():
        envelope.settled.set_result(Outcome.FAILED)  # crashed before it could be settled
