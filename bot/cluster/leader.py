"""Leader election through one Redis key: the holder polls Telegram and reads the pub/sub channel,
every other instance stands by and takes over when the holder stops renewing."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio
import structlog
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.store.client import as_text

log = structlog.get_logger(__name__)

LEADER_KEY = "notify:leader:{bot_id}"  # one per bot: two pollers on one token get 409

# Take the lock when it is free, or (ARGV[3] not empty) when the holder has this instance's
# name: a restarted worker.1 need not wait for its own old lock to expire. Leadership asks
# for that only on its first try, so two live processes with one name cannot take the lock
# from each other in turn; after that, only a free lock is taken.
# Returns {1, 0} when taken, else {0, the holder's milliseconds left}: a standby tries again
# just after that.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or (ARGV[3] ~= '' and string.sub(holder, 1, string.len(ARGV[3])) == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, 0}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Lead = Callable[[], Coroutine[Any, Any, None]]

LOCK_ERRORS = (RedisError, TimeoutError)  # TimeoutError: a lock call bounded by wait_for
EXPIRY_SLACK = 0.02  # seconds after the holder's lock expires that a standby tries again
EXPIRY_MARGIN = 0.1  # seconds a holder keeps in hand before its lock's expiry (clock rates)
RENEW_RETRY = 0.1  # seconds between tries to renew once one failed


class Leadership:
    """Runs `lead()` while this instance holds the lock, and only then.

    The lock expires `ttl` seconds after its last renewal; the holder renews it every ttl/3.
    A holder that cannot renew (Redis down) stops leading before its lock can have expired, so
    two instances never lead at once; one whose lock was taken stops at once. Standbys try
    every `retry` seconds, and again just after the holder's lock would expire: a dead leader
    is replaced within about `ttl` seconds of its last renewal. On shutdown the leader stops
    leading first and then deletes the lock: a standby takes over within `retry` seconds.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        identity: str,
        lead: Lead,
        *,
        ttl: float = 5.0,
        retry: float = 1.0,
    ) -> None:
        self._redis = client
        self._key = key
        self._identity = identity
        self._token = f"{identity}:{uuid.uuid4().hex[:12]}"
        self._lead = lead
        self._ttl_ms = int(ttl * 1000)
        self._renew_every = ttl / 3
        self._retry = min(retry, ttl / 3)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._backoff = Backoff("leader_lock", base=self._retry, cap=5 * self._retry)
        self._first_try = True
        self._wait = self._retry  # until the next try: sooner when the holder's lock runs out
        self.is_leader = False
        self._renewed_at = 0.0
        self._acquire_sent_at = 0.0
        self.decided = asyncio.Event()  # set once this instance knows whether it leads

    async def run(self) -> None:
        """Stand by or lead, until cancelled. Re-raises a crash of `lead()`."""
        standby_logged = False
        while True:
            stop_if_cancelled()
            acquired = await keep_connected(self._try_acquire, self._backoff, LOCK_ERRORS)
            self._backoff.recovered()
            if acquired:
                await self._lead_while_held()
                standby_logged = False
            elif not standby_logged:
                holder = await self._holder()
                log.info("leader_standby", leader=holder, key=self._key)
                standby_logged = True
            self.decided.set()
            await asyncio.sleep(self._wait)

    async def _try_acquire(self) -> bool:
        own_prefix = f"{self._identity}:" if self._first_try else ""
        self._acquire_sent_at = time.monotonic()  # a lock taken lasts ttl from here at least
        reply = await self._call(self._acquire, self._token, self._ttl_ms, own_prefix)
        taken, left = (int(value) for value in reply)  # type: ignore[attr-defined]
        self._first_try = False
        # A lock without expiry (PTTL -1: set by hand) or gone meanwhile (-2): the usual pace.
        expires_in = left / 1000 + EXPIRY_SLACK if left > 0 else self._retry
        self._wait = min(self._retry, expires_in)
        return bool(taken)

    async def _lead_while_held(self) -> None:
        log.info("leader_elected", identity=self._identity, key=self._key)
        self.is_leader = True
        duty = asyncio.create_task(self._lead(), name="lead")
        released = False
        try:
            self.decided.set()
            await self._hold(duty)
        except asyncio.CancelledError:
            released = True  # shutting down: stop leading, then hand the lock on at once
            raise
        finally:
            duty.cancel()
            outcome = await asyncio.gather(duty, return_exceptions=True)
            self.is_leader = False
            if released:
                with contextlib.suppress(*LOCK_ERRORS):
                    await self._call(self._release, self._token)
                log.info("leader_released", identity=self._identity)
        if isinstance(outcome[0], Exception):
            raise outcome[0]

    async def _hold(self, duty: asyncio.Task[None]) -> None:
        """Renew until the lock is lost, Redis stays away too long, or `duty` ends. The lock
        lasts `ttl` from the moment a renewal was sent (Redis ran it then or later): each try
        is bounded so that it ends before that, and a holder that cannot renew in time steps
        down before it, so two instances never lead at once."""
        self._renewed_at = self._acquire_sent_at
        ttl = self._ttl_ms / 1000
        wait, failing = self._renew_every, False
        while True:
            stop_if_cancelled()
            done, _ = await asyncio.wait({duty}, timeout=wait)
            if done:
                return
            sent_at = time.monotonic()
            left = self._renewed_at + ttl - EXPIRY_MARGIN - sent_at
            try:
                if left <= 0:
                    raise TimeoutError("no time left to renew")
                held = await self._call(
                    self._renew, self._token, self._ttl_ms, within=min(self._renew_every, left)
                )
            except LOCK_ERRORS as exc:
                error = str(exc) or type(exc).__name__
                left = self._renewed_at + ttl - EXPIRY_MARGIN - time.monotonic()
                if left <= RENEW_RETRY:
                    log.error(  # noqa: TRY400 - an outage, not a bug: no traceback
                        "leader_stepping_down", reason="Redis unreachable", error=error
                    )
                    return
                log.warning("leader_renew_failed", error=error)
                wait, failing = RENEW_RETRY, True
                continue
            if not held:
                log.error("leader_lost", reason="the lock expired or was taken over")
                return
            if failing:
                log.info("leader_renew_recovered")
            self._renewed_at = sent_at
            wait, failing = self._renew_every, False

    def surely_held(self) -> bool:
        """Whether the lock is surely still this instance's: renewed recently enough that it
        cannot have expired. After an event-loop stall it is not, until the next renewal: the
        lock may have passed to another instance meanwhile, so read nothing new until then."""
        age = time.monotonic() - self._renewed_at
        return self.is_leader and age < self._ttl_ms / 1000 - self._renew_every

    async def _call(
        self, script: AsyncScript, *args: str | int, within: float | None = None
    ) -> object:
        """Run a lock script, bounded: the client's own retries could outlast the lock."""
        call = script(keys=[self._key], args=list(args))
        return await asyncio.wait_for(call, within or self._renew_every)

    async def _holder(self) -> str | None:
        with contextlib.suppress(RedisError):
            value = await self._redis.get(self._key)
            if value is not None:
                return as_text(value).rsplit(":", 1)[0]
        return None
