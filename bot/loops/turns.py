"""Turns in priority order: a semaphore whose waiters go by rank (0 first), in arrival order
within a rank, with the lowest rank waiting given a turn now and then so it is never starved."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# Of the turns given while a lower rank waits, every EVERY-th goes to the oldest waiter of the
# lowest rank: bulk keeps a tenth of the turns under a flood of urgent work, and urgent work
# waits at most one extra turn in ten.
EVERY = 10


class Turns:
    """At most `capacity` holders at once; a freed place goes to the waiter with the lowest
    rank (then the earliest), except that every EVERY-th place given while a higher rank
    waits goes to the oldest waiter of the highest rank waiting. Ranks are 0 to `ranks` - 1."""

    def __init__(self, capacity: int, *, ranks: int = 3, every: int = EVERY) -> None:
        self._free = capacity
        self._every = every
        self._queues: list[deque[asyncio.Future[None]]] = [deque() for _ in range(ranks)]
        self._passed_over = 0  # places given while a waiter of the highest rank waited

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues)

    @asynccontextmanager
    async def turn(self, rank: int) -> AsyncIterator[None]:
        await self.acquire(rank)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, rank: int) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues[rank]
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # given a place just as it was cancelled: pass it on
            else:
                queue.remove(future)
            raise

    def release(self) -> None:
        self._free += 1
        while self._free > 0:
            queue = self._next_queue()
            if queue is None:
                return
            self._free -= 1
            queue.popleft().set_result(None)

    def _next_queue(self) -> deque[asyncio.Future[None]] | None:
        waiting = [queue for queue in self._queues if queue]
        if not waiting:
            return None
        first, last = waiting[0], waiting[-1]
        if first is last:
            self._passed_over = 0
            return first
        self._passed_over += 1
        if self._passed_over >= self._every:
            self._passed_over = 0
            return last
        return first
