"""What /healthz reports: Redis reachable (the one thing that makes the instance useless when
it is not), Telegram's last answer, the last delivery, and the backlog."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from bot.cluster.leader import Leadership
from bot.cluster.liveness import Heartbeat
from bot.ops.metrics import Metrics
from bot.ops.readings import Readings, StreamBacklog, stream_backlog
from bot.ops.shared_channel import SharedChannelWatch
from bot.pipeline.dispatcher import Dispatcher
from bot.sources.pubsub import RedisListener
from bot.sources.stream import StreamConsumer
from bot.store.counters import Stats

PING_TIMEOUT = 1.0  # a health check answers fast, or the platform's router gives up on it


@dataclass
class Health:
    client: redis.asyncio.Redis
    stats: Stats
    metrics: Metrics
    dispatcher: Dispatcher
    leadership: Leadership | None
    mode: str  # "polling" or "webhook"
    stream: str
    group: str
    listener: RedisListener | None = None
    consumer: StreamConsumer | None = None
    username: str | None = None  # set once Telegram answered getMe
    shared_channel: SharedChannelWatch | None = None
    heartbeat: Heartbeat | None = None  # for the live instances /metrics shows

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body). Healthy when Redis answers and every source this instance
        runs is reading: the stream consumer, and the pub/sub listener on the leader."""
        body: dict[str, Any] = {"mode": self.mode}
        if self.leadership is not None:
            body["role"] = _role(self.leadership)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.client.ping(), PING_TIMEOUT)
        except (RedisError, TimeoutError) as exc:
            body["redis"] = {"ok": False, "error": str(exc) or type(exc).__name__}
            body["status"] = "unavailable"
            body["backlog"] = {"memory": self.dispatcher.pending}
            return False, body
        body["redis"] = {"ok": True, "ping_ms": round((time.perf_counter() - started) * 1000, 2)}
        body["telegram"] = {
            "ok": self.metrics.telegram_last_error is None,
            "username": self.username,
            "last_answer_at": self.metrics.telegram_last_ok,
            "last_error": self.metrics.telegram_last_error,
        }
        body["last_delivery_at"] = self.stats.last_sent_at
        try:
            body["backlog"] = await self.backlog()
        except (RedisError, TimeoutError) as exc:  # Redis went away after the PING
            body["redis"] = {"ok": False, "error": str(exc) or type(exc).__name__}
            body["status"] = "unavailable"
            body["backlog"] = {"memory": self.dispatcher.pending}
            return False, body
        body["sources"] = sources = self._sources()
        watch = self.shared_channel
        if watch is not None and watch.others:
            # Not a 503: a restart would not help, and the bot still delivers its own.
            body["channel_shared"] = {"with": list(watch.others), "fix": watch.hint}
        if self.metrics.telegram_token_rejected:
            # Unlike other Telegram trouble, this one a restart with a new token fixes.
            body["status"] = "token rejected"
            return False, body
        healthy = all(
            state in {"consuming", "subscribed", "taking over"} for state in sources.values()
        )
        body["status"] = "ok" if healthy else "not consuming"
        if healthy and "taking over" in sources.values():
            body["status"] = "taking over"  # healthy (200): waiting is its job right now
        return healthy, body

    def _sources(self) -> dict[str, str]:
        sources: dict[str, str] = {}
        # Only the leader reads: a standby is healthy while it stands by.
        leads = self.leadership is None or self.leadership.is_leader
        if self.consumer is not None and leads:
            state = "consuming" if self.consumer.ready.is_set() else "reconnecting"
            if self.dispatcher.held:
                state = "taking over"  # waits for the leader before it: healthy, not stuck
            sources["stream"] = state
        if self.listener is not None and leads:
            subscribed = self.listener.subscribed.is_set()
            sources["pubsub"] = "subscribed" if subscribed else "reconnecting"
        return sources

    async def backlog(self) -> dict[str, int]:
        """Notifications waiting here (memory) and unacknowledged in the streams of every
        priority (all consumers)."""
        backlog = {"memory": self.dispatcher.pending}
        if self.stream:
            streams = await asyncio.wait_for(self._streams(), PING_TIMEOUT)
            backlog["stream_pending"] = sum(stream.pending for stream in streams.values())
        return backlog

    async def readings(self) -> Readings:
        """What /metrics shows of Redis, read now within PING_TIMEOUT; never raises: Redis
        not answering is a reading too."""
        memory = self.dispatcher.pending
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                streams = await self._streams() if self.stream else None
                instances = await self.heartbeat.live() if self.heartbeat else None
                if streams is None and instances is None:
                    await self.client.ping()
        except Exception:  # noqa: BLE001 - Redis down or confused: still serve the rest
            return Readings(memory=memory, redis_up=False)
        return Readings(memory=memory, redis_up=True, streams=streams, instances=instances)

    async def _streams(self) -> dict[str, StreamBacklog]:
        return await stream_backlog(self.client, self.stream, self.group)


def _role(leadership: Leadership) -> str:
    if leadership.is_leader:
        return "leader"
    return "standby" if leadership.decided.is_set() else "starting"  # before the first try
