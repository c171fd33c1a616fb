"""The admin's view of the running bot: /stats and /health."""

from __future__ import annotations

import html
import time

import redis.asyncio
from redis.exceptions import RedisError
from telegram import Update
from telegram.error import TelegramError

from bot.chat.admin_format import duration
from bot.cluster.leader import Leadership
from bot.config.settings import Settings
from bot.notification.outcomes import Outcome
from bot.pipeline.dispatcher import Dispatcher
from bot.sources.pubsub import RedisListener
from bot.sources.stream import StreamConsumer, pending_entries
from bot.store import counters as stats_store
from bot.store.counters import Stats
from bot.store.registry import ChatRegistry


class StatusCommands:
    """Counters, sources and latencies, as this instance sees them."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: redis.asyncio.Redis,
        registry: ChatRegistry,
        stats: Stats,
        dispatcher: Dispatcher,
        listener: RedisListener | None,
        stream: StreamConsumer | None,
        leadership: Leadership | None,
    ) -> None:
        self._settings = settings
        self._redis = client
        self._registry = registry
        self._stats = stats
        self._dispatcher = dispatcher
        self._listener = listener
        self._stream = stream
        self._leadership = leadership

    async def stats(self, _update: Update, _args: list[str]) -> str:
        since_start = self._stats.snapshot()
        all_time = await stats_store.all_time(self._redis)
        rows = [("", "since start", "all-time")]
        labels = {
            "received": "received",
            Outcome.SENT: "delivered",
            "dead_lettered": "dead-lettered",
        }
        for name in all_time:
            rows.append(
                (labels.get(name, name), str(since_start.get(name, 0)), str(all_time[name]))
            )
        table = "\n".join(f"{a:<14}{b:>12}{c:>10}" for a, b, c in rows)
        redis_ms = await _ping_ms(self._redis)
        users, chats = await self._registry.counts()
        lines = [
            f"up {duration(self._stats.uptime())}, {users} linked users, {chats} chats",
            f"<pre>{html.escape(table)}</pre>",
            f"send rate: {self._stats.send_rate():.1f}/s; queued: {self._dispatcher.pending}"
            + ("; PAUSED" if self._dispatcher.paused else ""),
            f"redis: ok, {redis_ms:.1f} ms; {self._sources()}",
        ]
        if self._settings.notification_stream:
            lines.append(await self._backlog())
        return "\n".join(lines)

    async def health(self, update: Update, _args: list[str]) -> str:
        lines = []
        try:
            lines.append(f"redis: ok, {await _ping_ms(self._redis):.1f} ms; {self._sources()}")
        except RedisError as exc:
            lines.append(f"redis: DOWN ({type(exc).__name__})")
        bot = update.get_bot()
        started = time.perf_counter()
        try:
            await bot.get_me()
            lines.append(f"telegram: ok, {(time.perf_counter() - started) * 1000:.0f} ms (getMe)")
        except TelegramError as exc:
            lines.append(f"telegram: DOWN ({html.escape(exc.message)})")
        return "\n".join(lines)

    def _sources(self) -> str:
        parts = []
        if self._leadership is not None:
            # Standbys do not read pub/sub: only the leader does (docs: guides/instances.md).
            parts.append("leader" if self._leadership.is_leader else "standby")
        if self._listener is not None and (self._leadership is None or self._leadership.is_leader):
            state = "subscribed" if self._listener.subscribed.is_set() else "reconnecting"
            parts.append(f"pub/sub {state}")
        if self._stream is not None:
            state = "consuming" if self._stream.ready.is_set() else "reconnecting"
            parts.append(f"stream {state}")
        return ", ".join(parts)

    async def _backlog(self) -> str:
        stream, group = self._settings.notification_stream, self._settings.stream_group
        length = await self._redis.xlen(stream)
        pending = await pending_entries(self._redis, stream, group)
        return f"stream: {length} entries, {pending} pending"


async def _ping_ms(client: redis.asyncio.Redis) -> float:
    started = time.perf_counter()
    await client.ping()
    return (time.perf_counter() - started) * 1000
