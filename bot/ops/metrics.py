"""What the bot exposes at /metrics (Prometheus text format), and the little state /healthz
reports about Telegram. One registry per bot, so tests and several bots in one process never
share counters."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.loops.reconnect import Outage
from bot.ops.readings import Readings
from bot.store.counters import FEEDBACK_COUNTERS, NOTIFICATION_OUTCOMES, Stats

TOKEN_REJECTED = (401, 404)  # Unauthorized, or Not Found for a malformed token's URL

# Publish-to-Telegram's-answer, in seconds: ~2 ms unloaded, seconds when flood limits queue.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Telegram's retry_after on a 429, in seconds: a few seconds usually, minutes for a flood.
FLOOD_WAIT_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class Metrics:
    """The bot's Prometheus metrics. Notification counts are read from `Stats` when scraped, so
    /metrics, /stats and the shutdown log line cannot disagree."""

    def __init__(self, stats: Stats) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StatsCollector(stats))
        self.delivery_latency = Histogram(
            "notify_delivery_latency_seconds",
            "From receiving a notification to Telegram accepting it",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.telegram_errors = Counter(
            "notify_telegram_api_errors",
            "Telegram Bot API requests that failed, by HTTP status (or timeout/network) and method",
            ["code", "method"],
            registry=self.registry,
        )
        self.redis_reconnects = Counter(
            "notify_redis_reconnects",
            "Times a Redis source came back after losing its connection",
            ["source"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "notify_backlog",
            "Notifications waiting: in this process (memory) or unacknowledged in the stream",
            ["where"],
            registry=self.registry,
        )
        # Wired as the pub/sub listener's on_foreign.
        self.foreign = Counter(
            "notify_notifications_foreign",
            "Pub/sub notifications dropped: marked for another deployment on this Redis server",
            registry=self.registry,
        )
        self.template_renders = Counter(
            "notify_template_renders",
            "Templates rendered (once per language and time zone per notification or fan-out)",
            registry=self.registry,
        )
        self.leader = Gauge(
            "notify_leader",
            "1 while this instance holds the leader lock (polls Telegram, reads pub/sub)",
            registry=self.registry,
        )
        self.telegram_last_ok: float | None = None  # time.time() of the last answer
        # Telegram refused the token (revoked?): nothing can be sent until a new one is set.
        self.telegram_token_rejected = False
        self.telegram_last_error: str | None = None
        Gauge(
            "notify_telegram_token_rejected",
            "1 while Telegram refuses the bot token (401/404): nothing is sent until it takes it",
            registry=self.registry,
        ).set_function(lambda: float(self.telegram_token_rejected))
        self.outage = Gauge(
            "notify_outage_seconds",
            "How long the delivery lanes have been waiting for the peer to answer again; "
            "0 while it answers",
            ["peer"],
            registry=self.registry,
        )
        self.flood_wait = Histogram(
            "notify_telegram_flood_wait_seconds",
            "The waits Telegram asked for with a 429 (retry_after); every send pauses that long",
            buckets=FLOOD_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.paused = Gauge(
            "notify_telegram_paused_seconds",
            "Seconds left of the pause Telegram asked for with its last 429; 0 when not paused",
            registry=self.registry,
        )
        self.send_share = Gauge(
            "notify_send_share_instances",
            "Instances sending right now that split Telegram's overall limit (1: all of it here)",
            registry=self.registry,
        )
        self._scraped = _ScrapedCollector()
        self.registry.register(self._scraped)

    def watch_outage(self, peer: str, outage: Outage) -> None:
        """Export `outage`'s down time as notify_outage_seconds{peer=`peer`}."""
        self.outage.labels(peer).set_function(lambda: outage.down_for)

    def observe(self, readings: Readings) -> None:
        """What a scrape read from Redis (see bot.ops.readings): shown until the next scrape."""
        self.backlog.labels("memory").set(readings.memory)
        if readings.streams is None:
            with contextlib.suppress(KeyError):  # unknown now: not the last value, stale
                self.backlog.remove("stream_pending")
        else:
            pending = sum(stream.pending for stream in readings.streams.values())
            self.backlog.labels("stream_pending").set(pending)
        self._scraped.readings = readings

    def telegram_answered(self, method: str, code: int) -> None:
        """Telegram answered: any answer means it is reachable; 4xx/5xx are counted."""
        self.telegram_last_ok = time.time()
        if code in TOKEN_REJECTED:
            self.telegram_token_rejected = True
        elif code < 400:
            self.telegram_token_rejected = False
        if code >= 400:
            self.telegram_errors.labels(str(code), method).inc()
            self.telegram_last_error = f"{method}: HTTP {code}"
        else:
            self.telegram_last_error = None

    def telegram_unreachable(self, method: str, kind: str, error: str) -> None:
        """No answer: `kind` is "timeout" or "network"."""
        self.telegram_errors.labels(kind, method).inc()
        self.telegram_last_error = f"{method}: {error}"

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StatsCollector(Collector):
    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        counts = self._stats.snapshot()
        received = CounterMetricFamily(
            "notify_notifications_received", "Notifications read from Redis since start"
        )
        received.add_metric([], counts["received"])
        yield received
        outcomes = CounterMetricFamily(
            "notify_notifications",
            "Notifications by final outcome since start",
            labels=["outcome"],
        )
        for outcome in NOTIFICATION_OUTCOMES:
            outcomes.add_metric([outcome.value], counts[outcome.value])
        yield outcomes
        dead = CounterMetricFamily(
            "notify_dead_letters", "Notifications kept in the dead-letter store since start"
        )
        dead.add_metric([], counts["dead_lettered"])
        yield dead
        feedback = CounterMetricFamily(
            "notify_feedback",
            "What the chats said back and what became of reminders, since start",
            labels=["type"],
        )
        for name in FEEDBACK_COUNTERS:
            feedback.add_metric([name], counts[name])
        yield feedback


class _ScrapedCollector(Collector):
    """The last scrape's readings of Redis; a value Redis did not give is left out."""

    def __init__(self) -> None:
        self.readings: Readings | None = None

    def collect(self) -> Iterator[Metric]:
        readings = self.readings
        if readings is None:
            return
        up = GaugeMetricFamily(
            "notify_redis_up", "1 if Redis answered this scrape's reads within 1 s, else 0"
        )
        up.add_metric([], float(readings.redis_up))
        yield up
        if readings.streams is not None:
            streams = GaugeMetricFamily(
                "notify_stream_backlog",
                "Stream entries per priority: read and not yet settled (pending), or not yet "
                "read by any instance (unread); one value for the whole deployment",
                labels=["priority", "state"],
            )
            for priority, stream in readings.streams.items():
                streams.add_metric([priority, "pending"], stream.pending)
                if stream.unread is not None:
                    streams.add_metric([priority, "unread"], stream.unread)
            yield streams
        if readings.instances is not None:
            instances = GaugeMetricFamily(
                "notify_instances",
                "Instances of this bot alive on its Redis (a heartbeat within 3 s), this one "
                "included",
            )
            instances.add_metric([], readings.instances)
            yield instances
