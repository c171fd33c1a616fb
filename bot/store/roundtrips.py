"""Redis commands from many deliveries, sent together: one round trip carries what every lane
asked for meanwhile. Under a burst this is what makes Redis cheap per notification (a pipeline
of 100 commands costs redis-py far less than 100 single ones); when idle a request goes out at
once, alone, with no added wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Queues one caller's commands on the shared pipeline.
Queue = Callable[[Pipeline], object]


def in_order(*queues: Queue | None) -> Queue | None:
    """One Queue that queues each of `queues` (None: nothing) in turn; None if none does."""
    given = [queue for queue in queues if queue is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def queue(pipe: Pipeline) -> None:
        for each in given:
            each(pipe)

    return queue


Caller = tuple[Queue, "asyncio.Future[list[Any]]", bool]

# A trip with writes that must happen once is a MULTI/EXEC transaction ending with a SETBIT in
# a bitmap of this process's own (a bit per trip, a key per 2**20 trips): that bit set means
# the whole trip ran.
TRIPS_KEY = "notify:trips:{process}:{page}"
TRIPS_PER_KEY = 2**20
TRIPS_KEEP = 24 * 3600  # seconds: far longer than any outage a settle waits out
EXPIRE_EVERY = 1024  # trips between refreshes of a bitmap's expiry

# Errors of the trip itself (the connection), which are every caller's.
TRIP_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class TripLost(RedisConnectionError):
    """The connection failed during trip `number`: Redis may or may not have run it (the
    answer can be lost on the way back). `RoundTrips.ran` tells, once Redis is back."""

    def __init__(self, number: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__)
        self.number = number


class RoundTrips:
    """Runs callers' commands in shared, non-transactional pipelines: while one is on its way,
    what the next callers queue waits for it and then goes in the next one. Each caller gets
    the replies to its own commands, or the error of one of them (an error in another caller's
    commands is not its business); a connection error reaches every caller of that trip, each
    of which decides on its own whether to try again."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._waiting: list[Caller] = []
        self._sending: asyncio.Task[None] | None = None
        self._process = uuid.uuid4().hex[:16]
        self._trips = 0
        self._expiring = -1  # the bitmap page whose expiry was last set

    async def run(self, queue: Queue, *, once: bool = False) -> list[Any]:
        """Queue commands with `queue(pipe)`; return their replies once the trip is back.

        With `once`, a connection error raises TripLost, whose number `ran` checks before the
        caller tries again: writes that are not idempotent (counters, a dead letter, a receipt)
        are then made once even when Redis ran them and only its answer was lost."""
        reply: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((queue, reply, once))
        if self._sending is None or self._sending.done():
            # Started, not run: callers in this turn of the event loop still join the trip.
            self._sending = asyncio.create_task(self._send())
        return await reply

    async def _send(self) -> None:
        trip: list[Caller] = []
        try:
            while self._waiting:
                trip, self._waiting = self._waiting, []
                await self._one_trip(trip)
        except BaseException:
            # Cancelled (shutdown) or a bug: whoever still waits is told, never left waiting.
            for _, reply, _once in [*trip, *self._waiting]:
                if not reply.done():
                    reply.cancel()
            self._waiting = []
            raise

    async def ran(self, number: int) -> bool:
        """Whether trip `number` (from a TripLost) ran in Redis."""
        page, bit = divmod(number, TRIPS_PER_KEY)
        key = TRIPS_KEY.format(process=self._process, page=page)
        return bool(await self._redis.getbit(key, bit))

    async def _one_trip(self, trip: list[Caller]) -> None:
        once = any(once for _, _, once in trip)
        # A trip with writes to make once is a transaction: it runs whole or not at all, so its
        # bit tells for all of it. (The client must not retry on its own: see async_client.)
        pipe = self._redis.pipeline(transaction=once)
        sizes = _queue_all(pipe, trip)
        self._trips += 1
        number = self._trips
        if once and len(pipe):
            page, bit = divmod(number, TRIPS_PER_KEY)
            key = TRIPS_KEY.format(process=self._process, page=page)
            pipe.setbit(key, bit, 1)  # last: set only once all the commands before it ran
            if bit % EXPIRE_EVERY == 0 or page != self._expiring:
                # Not on every trip (a command more per settle): the key is kept TRIPS_KEEP
                # from its last refresh, far longer than EXPIRE_EVERY trips take.
                pipe.expire(key, TRIPS_KEEP)
                self._expiring = page
        try:
            replies = await pipe.execute(raise_on_error=False) if len(pipe) else []
        except TRIP_ERRORS as exc:
            for _, reply, wants_once in trip:
                if not reply.done():
                    reply.set_exception(TripLost(number, exc) if wants_once else exc)
            return
        except Exception:
            if len(trip) == 1:
                raise
            # Not the connection: a caller's argument redis-py cannot encode (it does so before
            # sending anything). Each caller alone, so that only its owner gets the error.
            for caller in trip:
                await self._alone(caller)
            return
        _hand_out(trip, sizes, replies)

    async def _alone(self, caller: Caller) -> None:
        reply = caller[1]
        try:
            await self._one_trip([caller])
        except Exception as exc:  # noqa: BLE001 - handed to its caller, who decides
            if not reply.done():
                reply.set_exception(exc)


def _queue_all(pipe: Pipeline, trip: list[Caller]) -> list[int]:
    """Queue every caller's commands; how many each queued."""
    sizes = []
    for queue, reply, _once in trip:
        before = len(pipe)
        try:
            queue(pipe)
        except Exception as exc:  # noqa: BLE001 - a bug in one caller is that caller's
            if not reply.done():
                reply.set_exception(exc)
        sizes.append(len(pipe) - before)
    return sizes


def _hand_out(trip: list[Caller], sizes: list[int], replies: list[Any]) -> None:
    """Each caller its own replies, or the first error among them."""
    start = 0
    for (_, reply, _once), size in zip(trip, sizes, strict=True):
        own = replies[start : start + size]
        start += size
        if reply.done():  # its caller was cancelled meanwhile, or its queue failed
            continue
        error = next((item for item in own if isinstance(item, Exception)), None)
        if error is not None:
            reply.set_exception(error)
        else:
            reply.set_result(own)
