"""The bench's rows for a notification's whole life: high-priority notifications passing a bulk
backlog under Telegram's limits, a fan-out to every linked user against as many single
notifications, and many scheduled notifications falling due in the same second. Each runs a
`python -m bot` of its own on streams of its own in the bench's Redis."""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from bot.store import fanouts
from bot.store.chat_links import USER_CHATS
from bot.store.client import priority_streams
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.bench.kit import LIFTED, BotProcess, bot_env, link_users

GOAL_HIGH_P99_S = 1.0
GOAL_FANOUT_SHARE = 0.90
GOAL_FANOUT_RSS_MB = 150.0
GOAL_SCHEDULED_S = 2.0
XADD_CHUNK = 10_000
# The keys a fan-out keeps while it runs: its hash, recipient list, settled bitmap and lease.
FANOUT_KEYS = (fanouts.FANOUT, fanouts.TO, fanouts.SETTLED)
FANOUT_LEASE = fanouts.LEASE


@dataclass
class LifecycleFigures:
    high_ms: dict[str, float] = field(default_factory=dict)  # publish -> sendMessage
    bulk_queued: int = 0
    bulk_sent_meanwhile: int = 0
    high_429s: int = 0
    recipients: int = 0
    singles_rate: float | None = None
    fanout_rate: float | None = None
    singles_cpu_ms: float | None = None  # per message
    fanout_cpu_ms: float | None = None
    singles_rss_mb: float | None = None  # peak
    fanout_rss_mb: float | None = None
    fanout_redis_kb: float | None = None  # peak of its keys' MEMORY USAGE; None on fakeredis
    scheduled: int = 0
    scheduled_p50_s: float | None = None  # after the second they were due in
    scheduled_last_s: float | None = None
    scheduled_early: int = 0


def measure_lifecycle(
    telegram: FakeTelegram,
    client: redis.Redis,
    url: str,
    *,
    users: int,
    latency_ms: float,
    bulk: int,
    high: int,
    high_every: float,
    recipients: int,
    scheduled: int,
) -> LifecycleFigures:
    figures = LifecycleFigures()
    link_users(client, telegram, max(users + high, recipients, scheduled))
    _priority(telegram, client, url, figures, users=users, bulk=bulk, high=high, every=high_every)
    telegram.latency = latency_ms / 1000
    try:
        _fan_out(telegram, client, url, figures)
    finally:
        telegram.latency = 0.0
    _scheduled(telegram, client, url, figures, count=scheduled)
    return figures


def _streams(name: str) -> str:
    """A stream name of its own (with its :high and :bulk beside it)."""
    return f"bench-{name}-{uuid.uuid4().hex[:8]}-stream"


def _streamed_bot(telegram: FakeTelegram, url: str, stream: str, **extra: str) -> BotProcess:
    """A bot reading `stream` and its :high and :bulk."""
    env = bot_env(
        telegram, url, stream.removesuffix("-stream"), NOTIFICATION_STREAM=stream, **extra
    )
    return BotProcess(["-m", "bot"], env, '"event": "bot_ready"')


def _priority(
    telegram: FakeTelegram,
    client: redis.Redis,
    url: str,
    figures: LifecycleFigures,
    *,
    users: int,
    bulk: int,
    high: int,
    every: float,
) -> None:
    """`bulk` bulk notifications to `users` users wait in their stream at the free 30/s; then
    `high` high ones, one every `every` s, each to a user with nothing queued (a user's own
    notifications keep their order whatever their priority). The backlog is queued before the
    bot starts, so that this process, which is the emulator too, has nothing else to do while
    the emulator stamps arrivals and counts them against the limits."""
    stream = _streams("priority")
    high_stream, _, bulk_stream = priority_streams(stream)
    tag = uuid.uuid4().hex[:6]
    _xadd(
        client,
        bulk_stream,
        ({"user_id": n % users + 1, "message": f"bulk {tag} {n}"} for n in range(bulk)),
    )
    figures.bulk_queued = bulk
    telegram.set_limits(FloodLimits())
    telegram.rate_limited = 0
    # Stopped with most of the backlog unsent: it stays in the stream, no need to drain it.
    bot = _streamed_bot(telegram, url, stream, SHUTDOWN_TIMEOUT="0.5")
    try:
        # Under way (3 s of sends at 30/s; less for a small backlog) before the first high one
        # comes: what is measured is a high one against a steady backlog, not the bot's start.
        telegram.wait_for_sent(
            lambda m: m.text.startswith(f"bulk {tag} "), count=min(90, bulk // 10 + 1), timeout=30
        )
        published: dict[str, float] = {}
        start = time.monotonic()
        for n in range(high):
            time.sleep(max(0.0, start + n * every - time.monotonic()))
            text = f"high {tag} {n}"
            published[text] = time.time()
            client.xadd(
                high_stream, {"payload": json.dumps({"user_id": users + 1 + n, "message": text})}
            )
        sent = telegram.wait_for_sent(lambda m: m.text in published, count=high, timeout=30)
        samples = [(m.at - published[m.text]) * 1000 for m in sent]
        figures.high_ms = _quantiles(samples)
        figures.bulk_sent_meanwhile = sum(m.text.startswith(f"bulk {tag} ") for m in telegram.sent)
        figures.high_429s = telegram.rate_limited
    finally:
        telegram.set_limits(None)
        bot.stop()
        client.delete(*priority_streams(stream))


def _fan_out(
    telegram: FakeTelegram, client: redis.Redis, url: str, figures: LifecycleFigures
) -> None:
    """Every linked user gets one notification: as that many single stream notifications, then
    as one fan-out entry (`audience: all`), each from a fresh bot with limits lifted."""
    count = int(client.hlen(USER_CHATS))
    figures.recipients = count

    def singles(stream: str, tag: str) -> None:
        _xadd(
            client,
            stream,
            ({"user_id": user, "message": f"single {tag} {user}"} for user in range(1, count + 1)),
        )

    def fan_out(stream: str, tag: str) -> None:
        _, _, bulk_stream = priority_streams(stream)
        entry = {"audience": "all", "message": f"fan {tag}", "id": f"bench-{tag}"}
        client.xadd(bulk_stream, {"payload": json.dumps(entry)})

    for kind, publish in (("single", singles), ("fan", fan_out)):
        stream = _streams(kind)
        bot = _streamed_bot(telegram, url, stream, **LIFTED)
        tag = uuid.uuid4().hex[:6]
        try:
            with _peak_memory(url, f"bench-{tag}") as peak:
                cpu, started = bot.cpu_seconds(), time.time()
                publish(stream, tag)
                prefix = f"{kind} {tag}"
                sent = telegram.wait_for_sent(
                    lambda m: m.text.startswith(prefix),  # noqa: B023 - used at once
                    count=count,
                    timeout=60 + count / 100,
                )
                rate = count / (max(m.at for m in sent) - started)
                cpu_ms = 1000 * (bot.cpu_seconds() - cpu) / count
                rss = bot.memory_mb("VmHWM")
        finally:
            bot.stop()
            client.delete(*priority_streams(stream))
        if kind == "single":
            figures.singles_rate, figures.singles_cpu_ms, figures.singles_rss_mb = rate, cpu_ms, rss
        else:
            figures.fanout_rate, figures.fanout_cpu_ms, figures.fanout_rss_mb = rate, cpu_ms, rss
            figures.fanout_redis_kb = peak[0] / 1024 if peak else None


@contextmanager
def _peak_memory(url: str, job: str) -> Iterator[list[int]]:
    """The most memory fan-out `job`'s keys took in Redis (MEMORY USAGE, sampled every 0.2 s
    from a thread of its own) while the block runs: [bytes], or [] where Redis cannot say."""
    peak: list[int] = []
    stop = threading.Event()
    sampler = redis.Redis.from_url(url)
    keys = [key.format(id=job) for key in (*FANOUT_KEYS, FANOUT_LEASE)]

    def sample() -> None:
        while True:  # once more after the block: a small fan-out is over within a sample
            last = stop.is_set()
            try:
                used = sum(int(sampler.memory_usage(key) or 0) for key in keys)
            except redis.ResponseError:  # fakeredis has no MEMORY USAGE
                return
            if not peak:
                peak.append(0)
            peak[0] = max(peak[0], used)
            if last:
                return
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
        sampler.close()


def _scheduled(
    telegram: FakeTelegram, client: redis.Redis, url: str, figures: LifecycleFigures, *, count: int
) -> None:
    """`count` notifications to as many users, all due at the same whole second, limits
    lifted: how long after it each arrived."""
    stream = _streams("due")
    bot = _streamed_bot(telegram, url, stream, **LIFTED)
    tag = uuid.uuid4().hex[:6]
    try:
        # Time to publish and hold them all first: 3 s for 1,000.
        due = math.ceil(time.time()) + 1 + math.ceil(count / 500)
        _xadd(
            client,
            stream,
            (
                {"user_id": user, "message": f"due {tag} {user}", "deliver_at": due}
                for user in range(1, count + 1)
            ),
        )
        sent = telegram.wait_for_sent(
            lambda m: m.text.startswith(f"due {tag} "), count=count, timeout=30
        )
    finally:
        bot.stop()
        client.delete(*priority_streams(stream))
    after = sorted(m.at - due for m in sent)
    figures.scheduled = count
    figures.scheduled_p50_s = statistics.median(after)
    figures.scheduled_last_s = after[-1]
    figures.scheduled_early = sum(delay < 0 for delay in after)


def _xadd(client: redis.Redis, stream: str, payloads: Iterator[dict[str, object]]) -> None:
    """Add every payload to `stream`, as a web app's plain XADD would, in batches."""
    pipe = client.pipeline(transaction=False)
    for n, payload in enumerate(payloads, start=1):
        pipe.xadd(stream, {"payload": json.dumps(payload)})
        if n % XADD_CHUNK == 0:
            pipe.execute()
    pipe.execute()


def _quantiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50": samples[0], "p99": samples[0], "max": samples[0]} if samples else {}
    quantiles = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": quantiles[49], "p99": quantiles[98], "max": max(samples)}


def lifecycle_lines(figures: dict[str, object], options: dict[str, object]) -> list[str]:
    """The section the bench prints under its table."""
    high_ms: dict[str, float] = figures["high_ms"]  # type: ignore[assignment]
    backlog_s = figures["bulk_queued"] / FloodLimits().per_second  # type: ignore[operator]
    lines = [
        "a notification's whole life (each with a bot of its own):",
        f"  priority: {figures['bulk_queued']} bulk queued in their stream at 30/s, then "
        f"{options['high_count']} high, one every {options['high_every']:g} s: publish -> "
        f"sendMessage p50 {_ms(high_ms.get('p50'))}, p99 {_ms(high_ms.get('p99'))} "
        f"(goal p99 < {GOAL_HIGH_P99_S:g} s; behind the backlog, one would wait up to "
        f"{backlog_s:.0f} s); bulk sent meanwhile {figures['bulk_sent_meanwhile']}, "
        f"429s {figures['high_429s']}",
    ]
    singles, fanned = figures["singles_rate"], figures["fanout_rate"]
    if isinstance(singles, float) and isinstance(fanned, float):
        redis_kb = figures["fanout_redis_kb"]
        memory = "-" if redis_kb is None else f"{redis_kb:,.0f} KB"
        lines.append(
            f"  fan-out to all {figures['recipients']} linked users, limits lifted: "
            f"{fanned:.0f}/s, {fanned / singles:.0%} of as many single notifications' "
            f"{singles:.0f}/s (goal >= {GOAL_FANOUT_SHARE:.0%}); CPU per message "
            f"{figures['fanout_cpu_ms']:.2f} ms against {figures['singles_cpu_ms']:.2f} ms; "
            f"peak RSS {figures['fanout_rss_mb']:.0f} MB (singles {figures['singles_rss_mb']:.0f}"
            f" MB; goal < {GOAL_FANOUT_RSS_MB:.0f} MB); its keys in Redis at most {memory}"
        )
    if figures["scheduled"]:
        lines.append(
            f"  {figures['scheduled']} scheduled, due in the same second: sent "
            f"{figures['scheduled_p50_s']:.2f} s after it (median), the last "
            f"{figures['scheduled_last_s']:.2f} s (goal all within {GOAL_SCHEDULED_S:g} s); "
            f"{figures['scheduled_early']} early"
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"
