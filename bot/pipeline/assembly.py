"""The pipeline put together from the settings: per-user lanes that wait out Redis together, plan
by Redis's clock and settle each send, their reads and writes on one queue of round trips."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError

from bot.config.settings import Settings
from bot.loops.reconnect import Outage
from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.plan import Planner
from bot.pipeline.settle import Settler
from bot.pipeline.steps import Deliver
from bot.pipeline.templating import Templating
from bot.store.actions import ActionStore
from bot.store.client import CONNECTION_ERRORS
from bot.store.clock import RedisClock
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.feedback import FeedbackStore
from bot.store.registry import ChatRegistry
from bot.store.roundtrips import RoundTrips
from bot.store.schedule import ScheduleStore

# What a lane waits out: Redis unreachable, or up but refusing writes for now (a replica after
# a failover, out of memory). Other errors are bugs or misuse, and are not retried forever.
REDIS_WAIT_ERRORS = (*CONNECTION_ERRORS, ReadOnlyError, OutOfMemoryError, MasterDownError)


def build_lanes(
    settings: Settings,
    deliver: Deliver,
    *,
    client: redis.asyncio.Redis,
    exact: redis.asyncio.Redis,
    actions: ActionStore,
    registry: ChatRegistry,
    schedule: ScheduleStore | None,
    stats: Stats,
    dead_letters: DeadLetterStore,
    on_sent: Callable[[float], None],
    templating: Templating | None = None,
    feedback: FeedbackStore | None = None,
) -> Dispatcher:
    """The dispatcher, sending with `deliver` and settling on `exact` (a client that never
    retries on its own: a write after a lost answer would be made twice), the settle making
    the link changes a delivery asks for in `registry`; `on_sent` is told each delivery's
    latency."""
    # Shared by every lane: while Redis is down one of them probes it and the others wait.
    redis_outage = Outage("redis_lanes", client.ping, REDIS_WAIT_ERRORS)
    # One queue of trips for the reads before sends and the writes after them: measured, two
    # queues (two connections) made a send's read no faster, the event loop being the wait.
    trips = RoundTrips(exact)
    settler = Settler(
        trips,
        stats,
        dead_letters,
        registry=registry,
        redis=redis_outage,
        idempotency_window=settings.idempotency_window_seconds,
        memory_seconds=settings.message_memory_seconds,
        receipt_channel=settings.receipt_channel,
        on_sent=on_sent,
    )
    # What is due, quiet or expired goes by Redis's clock (each heartbeat measures it).
    clock = RedisClock()
    planner = Planner(
        settings.categories,
        settings.digest,
        schedule=schedule,
        default_language=settings.default_language,
    )
    planner.clock = clock.now
    return Dispatcher(
        deliver,
        settler,
        stats,
        settings.delivery_concurrency,
        trips=trips,
        redis=redis_outage,
        actions=actions,
        schedule=schedule,
        planner=planner,
        pause_buffer=settings.pause_buffer_max,
        max_chars=settings.message_max_chars,
        clock=clock,
        templating=templating,
        remind_min_seconds=settings.remind_min_seconds,
        feedback=feedback,
        memory_seconds=settings.message_memory_seconds,
    )
