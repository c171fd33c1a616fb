"""The bot under Telegram's limits, the emulator enforcing them: the free 30/s on a busy
machine, and paid broadcasts at 1000/s with plain and rich bursts."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator

import redis

from bot.config.settings import PAID_BROADCAST_PER_SECOND
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.bench.head_to_head import Figures
from bot.tools.bench.kit import BotProcess, bot_env
from bot.tools.bench.options import Options
from bot.tools.bench.traffic import send_and_wait


def measure_limits(
    options: Options, url: str, telegram: FakeTelegram, client: redis.Redis, *, figures: Figures
) -> None:
    """Add to the bot's `figures` what it sustains under the free and the paid limits, and the
    429s it got."""
    channel = f"bench-limits-{uuid.uuid4().hex[:8]}"
    limits = FloodLimits()
    rate, figures.flood_429s = _under_limits(
        options,
        telegram,
        client,
        bot_env(telegram, url, channel),
        limits=limits,
        count=options.limited_count,
    )
    figures.throughput_limited, figures.cap_fraction = rate, rate / limits.per_second
    # Paid broadcasts: Telegram's cap is 1000/s; one notification per user, so that only the
    # overall limit counts.
    paid = FloodLimits(per_second=PAID_BROADCAST_PER_SECOND)
    env = bot_env(telegram, url, channel, TELEGRAM_PAID_BROADCAST="true")
    rate, figures.paid_429s = _under_limits(
        options, telegram, client, env, limits=paid, count=options.paid_count, figures=figures
    )
    figures.throughput_paid, figures.paid_cap_fraction = rate, rate / paid.per_second


def _under_limits(
    options: Options,
    telegram: FakeTelegram,
    client: redis.Redis,
    env: dict[str, str],
    *,
    limits: FloodLimits,
    count: int,
    figures: Figures | None = None,
) -> tuple[float, int]:
    """A burst of `count` with the emulator enforcing `limits`: the sustained rate, and the 429s
    the emulator answered. With `figures`, the CPU per message of plain bursts and of bursts of
    RICH_HTML with RICH_BUTTONS go there (the best of two each): at the same paced rate both
    batch alike, so the difference is what formatting costs (unpaced, a slower Telegram
    answering bigger requests would change the batching too).

    At the free 30/s the notifications go to --users users and one core is kept busy (unless
    --no-load): pacing must hold on a busy machine. At the paid 1000/s each goes to a user of
    its own (only the overall limit counts), on an otherwise idle machine: 1000/s takes most of
    a core for the bot and the emulator each."""
    paid = limits.per_second > FloodLimits().per_second
    users = count if paid else options.users
    bot = BotProcess(["-m", "bot"], env, '"event": "bot_ready"')
    try:
        telegram.set_limits(limits)
        telegram.rate_limited = 0
        telegram.latency = options.latency_ms / 1000
        channel = env["NOTIFICATION_CHANNEL"]
        with _busy_core(options.load and not paid):
            cpu = bot.cpu_seconds()
            send_and_wait(telegram, client, channel, count, users)
            plain_cpu = bot.cpu_seconds() - cpu
        # Sustained: between the first and the last arrival, once the pipeline is full.
        burst = telegram.sent[-count:]
        rate, limited = (len(burst) - 1) / (burst[-1].at - burst[0].at), telegram.rate_limited
        if figures is not None:
            # Rich, plain, rich after the plain one: the least CPU of each pair's bursts counts,
            # as noise only ever adds.
            best = {False: plain_cpu, True: float("inf")}
            for rich in (True, False, True):
                cpu = bot.cpu_seconds()
                send_and_wait(telegram, client, channel, count, users, rich=rich)
                best[rich] = min(best[rich], bot.cpu_seconds() - cpu)
            figures.paced_cpu_ms_per_msg = 1000 * best[False] / count
            figures.paced_rich_cpu_ms_per_msg = 1000 * best[True] / count
            limited = telegram.rate_limited
        return rate, limited
    finally:
        telegram.set_limits(None)
        telegram.latency = 0.0
        bot.stop()


@contextlib.contextmanager
def _busy_core(on: bool) -> Iterator[None]:
    """A process that keeps one core busy: the machine is not the bot's alone."""
    if not on:
        yield
        return
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        busy.kill()
        busy.wait()
