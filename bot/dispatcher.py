"""Between Redis and Telegram: parse payloads, then deliver concurrently, in order per user."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

from bot.events import InvalidNotification, Notification, parse_notification
from bot.stats import Outcome, Stats

log = structlog.get_logger(__name__)

Deliver = Callable[[Notification], Awaitable[Outcome]]


class Dispatcher:
    """Runs deliveries for different users side by side (at most `concurrency` at once) while
    each user's notifications go out one after another, in the order they were published.

    Slow sends never hold up the Redis reader: `accept` only parses and queues.
    """

    def __init__(self, deliver: Deliver, stats: Stats, concurrency: int) -> None:
        self._deliver = deliver
        self._stats = stats
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[int, deque[Notification]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Notifications accepted but not yet finished."""
        return sum(len(lane) for lane in self._lanes.values())

    def accept(self, payload: bytes | str) -> None:
        """Take one raw payload from Redis: a bad one is logged and counted, a good one queued."""
        self._stats.received += 1
        try:
            notification = parse_notification(payload)
        except InvalidNotification as exc:
            self._stats.record(Outcome.INVALID)
            log.warning("notification_invalid", reason=exc.reason, preview=exc.preview)
            return
        self.submit(notification)

    def submit(self, notification: Notification) -> None:
        """Queue a notification behind any earlier ones for the same user."""
        lane = self._lanes.get(notification.user_id)
        if lane is not None:
            lane.append(notification)
            return
        self._lanes[notification.user_id] = deque([notification])
        task = asyncio.create_task(self._drain_lane(notification.user_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain_lane(self, user_id: int) -> None:
        lane = self._lanes[user_id]
        try:
            while lane:
                async with self._slots:
                    await self._deliver_one(lane[0])
                lane.popleft()
        finally:
            # No await between the empty check and this: a concurrent submit cannot be lost.
            del self._lanes[user_id]

    async def _deliver_one(self, notification: Notification) -> None:
        try:
            await self._deliver(notification)
        except Exception:
            # One broken delivery (e.g. Redis gone mid-lookup) must not stop the user's lane.
            self._stats.record(Outcome.FAILED)
            log.exception("delivery_crashed", user_id=notification.user_id)

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` s for queued deliveries; cancel the rest and return their count."""
        if self._tasks:
            log.info("delivery_draining", pending=self.pending)
            await asyncio.wait(set(self._tasks), timeout=grace)
        left = self.pending
        if left:
            log.error("delivery_abandoned", pending=left, grace_seconds=grace)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return left
