"""The bot, the bare sender and the blog loop measured alike, with Telegram's limits lifted:
time to ready, idle cost, latency at a steady rate, and the best of a few bursts."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import redis

from bot.config.settings import Settings
from bot.testing import FakeTelegram
from bot.tools.bench.kit import CHAT_BASE, LIFTED, BotProcess, bot_env
from bot.tools.bench.options import Options
from bot.tools.bench.traffic import note, rich_params, send_and_wait

# A burst: `count` plain notifications to --users users (several each, each user's in order),
# the same to `count` users (one each), or RICH_HTML with RICH_BUTTONS to --users users.
Burst = Literal["plain", "spread", "rich"]
ALL_BURSTS: tuple[Burst, ...] = ("plain", "spread", "rich")

# The bare sender keeps as many requests in flight as the bot's lanes.
CONCURRENCY: int = Settings.model_fields["delivery_concurrency"].default


@dataclass
class Figures:
    """What one implementation measured; None where it was not measured."""

    ready_s: float | None = None
    idle_cpu_pct: float | None = None
    idle_rss_mb: float | None = None
    throughput_lifted: float | None = None
    cpu_ms_per_msg: float | None = None
    # The same burst to as many users as notifications: one each, no user's order to keep.
    spread_throughput_lifted: float | None = None
    spread_cpu_ms_per_msg: float | None = None
    rich_cpu_ms_per_msg: float | None = None  # RICH_HTML with RICH_BUTTONS (or its body)
    paced_cpu_ms_per_msg: float | None = None  # at the paid 1000/s: plain, and rich
    paced_rich_cpu_ms_per_msg: float | None = None
    peak_rss_mb: float | None = None
    throughput_limited: float | None = None
    cap_fraction: float | None = None
    flood_429s: int | None = None
    throughput_paid: float | None = None
    paid_cap_fraction: float | None = None
    paid_429s: int | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    delivered: int = 0
    published: int = 0


def measure_bare(options: Options, telegram: FakeTelegram) -> Figures:
    """The bare aiohttp sender's burst: `count` sendMessage to the same chats, same latency,
    CONCURRENCY in flight; and the same with the body the bot sends for RICH_HTML with
    RICH_BUTTONS, alternating: a bigger request and answer cost something without any
    formatting, and this is how much."""
    env = bot_env(telegram, url="", channel="", BARE_RICH_PARAMS=json.dumps(rich_params()))
    bare = BotProcess(["-m", "bot.tools.bench.bare_sender", str(CONCURRENCY)], env, "bare_ready")
    figures = Figures(ready_s=bare.ready_s)

    def burst(kind: Burst) -> tuple[float, int]:
        tag = uuid.uuid4().hex[:6]
        started = time.time()
        chats = options.count if kind == "spread" else options.users
        body = "rich" if kind == "rich" else ""
        bare.tell(f"{CHAT_BASE + 1} {chats} {options.count} {tag} {body}")
        sent = telegram.wait_for_sent(
            lambda m: f"bare {tag} " in m.text,
            count=options.count,
            timeout=60 + options.count / 5,
        )
        return options.count / (max(m.at for m in sent) - started), len(sent)

    try:
        telegram.latency = options.latency_ms / 1000
        _bursts(options.bursts, bare, burst, figures, kinds=ALL_BURSTS)
        figures.published = options.count
    finally:
        telegram.latency = 0.0
        bare.stop(exit_wait=0.5)
    return figures


def measure_bot(options: Options, url: str, telegram: FakeTelegram, client: redis.Redis) -> Figures:
    """The bot with Telegram's limits lifted: what the pipeline itself can do (paid broadcasts
    cap Telegram at 1000/s), plain bursts and rich ones."""
    channel = f"bench-{uuid.uuid4().hex[:8]}"
    bot = BotProcess(
        ["-m", "bot"], bot_env(telegram, url, channel, **LIFTED), '"event": "bot_ready"'
    )
    return _profile(
        bot, options, telegram, client, channel=channel, count=options.count, kinds=ALL_BURSTS
    )


def measure_blog(
    options: Options, url: str, telegram: FakeTelegram, client: redis.Redis
) -> Figures:
    channel = f"bench-blog-{uuid.uuid4().hex[:8]}"
    blog = BotProcess(
        ["-m", "bot.tools.bench.blog_loop"], bot_env(telegram, url, channel), "blog_ready"
    )
    return _profile(blog, options, telegram, client, channel=channel, count=options.blog_count)


def _profile(
    process: BotProcess,
    options: Options,
    telegram: FakeTelegram,
    client: redis.Redis,
    *,
    channel: str,
    count: int,
    kinds: tuple[Burst, ...] = ("plain",),
) -> Figures:
    """The figures both implementations get: ready, idle, latency at a steady rate, and bursts
    of `count` with the API latency on, of each of `kinds` in turn. Stops the process."""
    figures = Figures(ready_s=process.ready_s)
    try:
        _idle(process, options, figures)
        _latency(options, telegram, client, channel, figures)
        telegram.latency = options.latency_ms / 1000
        _bursts(
            options.bursts,
            process,
            lambda kind: send_and_wait(
                telegram,
                client,
                channel,
                count,
                count if kind == "spread" else options.users,
                rich=kind == "rich",
            ),
            figures,
            kinds=kinds,
        )
        figures.published = count
    finally:
        telegram.latency = 0.0
        process.stop()
    return figures


def _bursts(
    times: int,
    process: BotProcess,
    burst: Callable[[Burst], tuple[float, int]],
    figures: Figures,
    *,
    kinds: tuple[Burst, ...],
) -> None:
    """Run `burst(kind)` (-> rate, delivered) for each of `kinds` in turn, `times` times, and
    keep the best rate and the least CPU per message of each kind: on a shared machine noise
    only ever adds, so the best of a few is the closest to what the code costs (timeit does the
    same). Delivered: the last plain burst's."""
    for _ in range(times):
        for kind in kinds:
            cpu = process.cpu_seconds()
            rate, delivered = burst(kind)
            cpu_ms = 1000 * (process.cpu_seconds() - cpu) / max(delivered, 1)
            if kind == "rich":
                figures.rich_cpu_ms_per_msg = min(cpu_ms, figures.rich_cpu_ms_per_msg or cpu_ms)
            elif kind == "spread":
                figures.spread_throughput_lifted = max(
                    rate, figures.spread_throughput_lifted or 0.0
                )
                figures.spread_cpu_ms_per_msg = min(cpu_ms, figures.spread_cpu_ms_per_msg or cpu_ms)
            else:
                figures.throughput_lifted = max(rate, figures.throughput_lifted or 0.0)
                figures.cpu_ms_per_msg = min(cpu_ms, figures.cpu_ms_per_msg or cpu_ms)
                figures.delivered = delivered
    figures.peak_rss_mb = process.memory_mb("VmHWM")


def _idle(process: BotProcess, options: Options, figures: Figures) -> None:
    cpu, started = process.cpu_seconds(), time.monotonic()
    time.sleep(options.idle_seconds)
    elapsed = time.monotonic() - started
    figures.idle_cpu_pct = 100 * (process.cpu_seconds() - cpu) / elapsed
    figures.idle_rss_mb = process.memory_mb()


def _latency(
    options: Options, telegram: FakeTelegram, client: redis.Redis, channel: str, figures: Figures
) -> None:
    """Publish at `rate`/s to distinct users; latency = sendMessage arrival - publish time."""
    published: dict[str, float] = {}
    interval = 1 / options.rate
    start = time.monotonic()
    for n in range(options.rate_count):
        time.sleep(max(0.0, start + n * interval - time.monotonic()))
        text = f"lat {channel} {n}"
        published[text] = time.time()
        client.publish(channel, note(n % options.users + 1, text))
    sent = telegram.wait_for_sent(
        lambda m: m.text in published,
        count=options.rate_count,
        timeout=30 + options.rate_count / options.rate,
    )
    samples = sorted((m.at - published[m.text]) * 1000 for m in sent)
    quantiles = statistics.quantiles(samples, n=100, method="inclusive")
    figures.latency_ms = {"p50": quantiles[49], "p95": quantiles[94], "p99": quantiles[98]}
