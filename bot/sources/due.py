"""Scheduled notifications in: release the ones whose deliver_at has come onto the notification
streams, where the consumer group hands each to exactly one instance."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis.exceptions import ResponseError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.store.client import CONNECTION_ERRORS
from bot.store.schedule import ScheduleStore

log = structlog.get_logger(__name__)

BATCH = 1000  # moved per script call: a second's worth of a paid broadcast
LOOK_EVERY = 1.0  # at most this long between looks: one held by another instance is due soon


class DueReleaser:
    """Every instance runs one. It sleeps until the next notification is due (by Redis's
    clock), at most `look_every` seconds, or until `wake` is set (one was held here), then
    moves what is due. The move is one Lua script: two instances never release one twice."""

    def __init__(self, store: ScheduleStore, *, look_every: float = LOOK_EVERY) -> None:
        self._store = store
        self._look_every = look_every
        self._backoff = Backoff("scheduled", base=0.5, cap=10.0)
        self.wake = asyncio.Event()

    async def run(self) -> None:
        await keep_connected(self._loop, self._backoff, (*CONNECTION_ERRORS, ResponseError))

    async def _loop(self) -> None:
        while True:
            stop_if_cancelled()
            self.wake.clear()
            released = await self._store.release_due(BATCH)
            self._backoff.recovered()
            if released.moved:
                log.info("scheduled_released", notifications=released.moved)
            if released.moved == BATCH:
                continue  # more are due
            wait = self._look_every
            if released.next_due is not None:
                wait = min(wait, max(released.next_due - released.now, 0.0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), wait)
