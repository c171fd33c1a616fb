"""The one reconnect loop: every long-lived loop that must get its peer back (the Redis sources,
the leader lock's contention, the send share, Telegram at start-up) runs its connected part
through `keep_connected`, which backs off with jitter while the peer is down and logs each
attempt and the recovery. (A leader renewing its lock does not retry this way: it must step
down before the lock can expire, see cluster/leader.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter" for the `attempt`-th retry (1-based).

    Half the delay is fixed so retries never collapse to zero; the other half is random so many
    clients that failed together do not come back together.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop and the request got lost.

    redis-py 8.1 on Python 3.11 swallows a task's cancellation when it lands inside a
    command at the wrong moment: a loop cancelled 200 times while calling ZREM kept running 33
    to 125 times (the count depends on the client options). The request stays counted in
    `Task.cancelling()`, so every long-lived loop calls this each round and before waiting
    for long: otherwise SIGTERM could hang until the platform's SIGKILL.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Backoff:
    """The health of one connection to a peer. `failed` counts a failure, logs
    `<name>_unavailable` (attempt, error, retry_in) and waits; `recovered`, called once the
    connection works, logs `<name>_recovered` (attempts, outage_seconds) after failures."""

    def __init__(
        self,
        name: str,
        *,
        base: float,
        cap: float,
        unavailable_event: str | None = None,
        on_recovered: Callable[[], None] | None = None,
        **context: Any,
    ) -> None:
        self._unavailable = unavailable_event or f"{name}_unavailable"
        self._recovered = f"{name}_recovered"
        self._base = base
        self._cap = cap
        self._on_recovered = on_recovered
        self._context = context
        self._down_since = 0.0
        self.failures = 0

    async def failed(self, exc: BaseException, max_wait: float | None = None) -> None:
        """Count and log a failure, then wait out the backoff (at most `max_wait` seconds)."""
        if not self.failures:
            self._down_since = time.monotonic()
        self.failures += 1
        delay = backoff_delay(self.failures, self._base, self._cap)
        log.warning(
            self._unavailable,
            attempt=self.failures,
            error=str(exc) or type(exc).__name__,
            retry_in=round(delay, 2),
            **self._context,
        )
        await asyncio.sleep(delay if max_wait is None else max(min(delay, max_wait), 0))

    def recovered(self) -> bool:
        """Say that the peer answers again; True if it had failed before."""
        if not self.failures:
            return False
        log.info(
            self._recovered,
            attempts=self.failures,
            outage_seconds=round(time.monotonic() - self._down_since, 2),
            **self._context,
        )
        self.failures = 0
        if self._on_recovered is not None:
            self._on_recovered()
        return True


async def keep_connected(
    session: Callable[[], Awaitable[T]],
    backoff: Backoff,
    errors: tuple[type[BaseException], ...],
) -> T:
    """Run `session` until it returns, and again after each of `errors` (the peer is gone),
    backing off in between. The session calls `backoff.recovered()` once it is connected.
    Other exceptions and cancellation propagate."""
    while True:
        stop_if_cancelled()
        try:
            return await session()
        except errors as exc:
            await backoff.failed(exc)


class OutageTooLong(Exception):
    """The peer stayed down longer than the caller was willing to wait."""


class Outage:
    """A peer that many tasks use at once (Redis for the delivery lanes, Telegram for the
    sends). The first task to find it down probes it with a cheap call, backing off and
    logging `<name>_unavailable`; every other task waits for that probe instead of retrying on
    its own, and all of them go on when it answers (`<name>_recovered`). No task of its own:
    the prober is whichever waiter holds the lock, so cancelling the waiters stops it."""

    def __init__(
        self,
        name: str,
        probe: Callable[[], Awaitable[object]],
        errors: tuple[type[BaseException], ...],
        *,
        base: float = 0.2,
        cap: float = 5.0,
        **context: Any,
    ) -> None:
        self._probe = probe
        self.errors = errors
        self._base = base
        self._cap = cap
        self._backoff = Backoff(name, base=base, cap=cap, **context)
        self._name = name
        self._call_failed = f"{name}_call_failed"
        self._probing = asyncio.Lock()
        self._down_since: float | None = None
        self._back = asyncio.Event()  # set when the peer answers again
        self._outage_ended_at = -1.0  # when the last outage that a probe confirmed ended

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    @property
    def down_for(self) -> float:
        """Seconds since the peer was found down; 0 while it is up."""
        return 0.0 if self._down_since is None else time.monotonic() - self._down_since

    def found_down(self) -> None:
        """A call failed with one of `errors`: from now on callers wait for the probe."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._back = asyncio.Event()

    async def until_up(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`; while the peer is down, wait for it and run it again, for as long as it
        takes. A call that keeps failing while the probe answers (say, Redis is read-only after
        a failover) is retried with backoff, not in a tight loop."""
        failures, error = 0, ""
        while True:
            stop_if_cancelled()
            if self.is_down and not await self.wait_up() and failures:
                if failures == 1:  # the peer answers, but this call does not work
                    log.warning(self._call_failed, error=error)
                await asyncio.sleep(backoff_delay(failures, self._base, self._cap))
            try:
                return await call()
            except self.errors as exc:
                failures += 1
                error = str(exc) or type(exc).__name__
                self.found_down()

    async def wait_up(self, give_up_after: float | None = None) -> bool:
        """Return once the peer answers the probe (at once while it is up): True if it was
        really down meanwhile (a probe failed), False if the first probe answered. A caller
        waits at most `give_up_after` seconds, counted from its own call, then OutageTooLong:
        so each waiting caller gets the whole time, and a long outage fails them one wait
        apart, never in a burst."""
        started = time.monotonic()
        deadline = None if give_up_after is None else started + give_up_after
        while self._down_since is not None:
            stop_if_cancelled()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise OutageTooLong(f"{self._name} unavailable for {self.down_for:.0f} s")
            if self._probing.locked():  # someone probes: wait for its answer, or our deadline
                # Looking again every `cap` seconds: if the prober was cancelled, we probe.
                timeout = self._cap if left is None else min(left, self._cap)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._back.wait(), timeout)
                continue
            async with self._probing:
                await self._probe_once(left)
        return self._outage_ended_at >= started

    async def _probe_once(self, left: float | None) -> None:
        if self._down_since is None:
            return  # another waiter's probe found it back
        try:
            await self._probe()
        except self.errors as exc:
            await self._backoff.failed(exc, max_wait=left)
            return
        if self._backoff.recovered():
            self._outage_ended_at = time.monotonic()
        self._down_since = None
        self._back.set()
