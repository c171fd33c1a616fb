"""`python -m bot bench`: measure the real bot process against Redis and the Bot API emulator,
and the blog post's serial loop beside it, with the same Redis and emulator. The Redis is an
embedded one, or an empty database given with --redis-url (never REDIS_URL)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import redis

from bot.store.registry import CHAT_TO_USER, USER_TO_CHAT
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.scratch import scratch_redis

CHAT_BASE = 1_000_000  # chat id = CHAT_BASE + user id


@dataclass
class Options:
    count: int = 5000
    users: int = 500
    latency_ms: float = 50.0
    limited_count: int = 300
    rate: float = 10.0
    rate_count: int = 100
    idle_seconds: float = 10.0
    blog_count: int = 200
    redis_url: str | None = None  # None: an embedded Redis of its own
    yes_use_it: bool = False  # write into `redis_url` although it holds keys


@dataclass
class Figures:
    """What one implementation measured; None where it was not measured."""

    ready_s: float | None = None
    idle_cpu_pct: float | None = None
    idle_rss_mb: float | None = None
    throughput_lifted: float | None = None
    cpu_ms_per_msg: float | None = None
    peak_rss_mb: float | None = None
    throughput_limited: float | None = None
    cap_fraction: float | None = None
    flood_429s: int | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    delivered: int = 0
    published: int = 0


class BotProcess:
    """A `python -m bot` (or the blog loop) child process, with its CPU and memory readable."""

    def __init__(self, args: list[str], env: dict[str, str], ready_marker: str) -> None:
        started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        self._tail: list[str] = []

        def drain() -> None:
            assert self.process.stdout is not None  # noqa: S101
            for line in self.process.stdout:
                if not ready.is_set():
                    self._tail.append(line)
                    if ready_marker in line:
                        ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("the process did not become ready:\n" + "".join(self._tail[-20:]))
        self.ready_s = time.monotonic() - started

    def cpu_seconds(self) -> float:
        fields = _proc(self.process.pid, "stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, name: str = "VmRSS") -> float:
        for line in _proc(self.process.pid, "status").splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _proc(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}") as file:
        return file.read()


def run_bench(
    options: Options, out: TextIO = sys.stdout, *, as_json: bool = False
) -> dict[str, Any]:
    """Run every measurement for the bot and the blog loop; print a table (or JSON)."""
    scratch = scratch_redis(options.redis_url, "bench", allow_data=options.yes_use_it)
    with scratch as url, FakeTelegram() as telegram:
        client = redis.Redis.from_url(url)
        try:
            _link_users(client, telegram, options.users)
            bot = _measure_bot(options, url, telegram, client)
            blog = _measure_blog(options, url, telegram, client)
        finally:
            client.close()
    report = {"options": asdict(options), "bot": asdict(bot), "blog": asdict(blog)}
    if as_json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        _print_table(report, out)
    return report


def _link_users(client: redis.Redis, telegram: FakeTelegram, users: int) -> None:
    pipe = client.pipeline(transaction=False)
    for user in range(1, users + 1):
        pipe.hset(USER_TO_CHAT, str(user), str(CHAT_BASE + user))
        pipe.hset(CHAT_TO_USER, str(CHAT_BASE + user), str(user))
        telegram.add_chat(CHAT_BASE + user)
    pipe.execute()


def _env(telegram: FakeTelegram, url: str, channel: str, **extra: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return env | {
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": url,
        "NOTIFICATION_CHANNEL": channel,
        "NOTIFICATION_STREAM": "",
        "LOG_FORMAT": "json",
        "RECEIPT_CHANNEL": "",
        **extra,
    }


def _measure_bot(
    options: Options, url: str, telegram: FakeTelegram, client: redis.Redis
) -> Figures:
    channel = f"bench-{uuid.uuid4().hex[:8]}"
    # Limits lifted: what the pipeline itself can do (paid broadcasts cap Telegram at 1000/s).
    lifted = _env(
        telegram,
        url,
        channel,
        TELEGRAM_PAID_BROADCAST="true",
        TELEGRAM_MAX_PER_SECOND="1000000",
        TELEGRAM_CHAT_BURST="1000000",
    )
    bot = BotProcess(["-m", "bot"], lifted, '"event": "bot_ready"')
    figures = _profile(bot, options, telegram, client, channel=channel, count=options.count)

    limited = BotProcess(["-m", "bot"], _env(telegram, url, channel), '"event": "bot_ready"')
    try:
        telegram.set_limits(FloodLimits())
        telegram.rate_limited = 0
        telegram.latency = options.latency_ms / 1000
        _send_and_wait(telegram, client, channel, options.limited_count, options.users)
        # Sustained: between the first and the last arrival, once the pipeline is full.
        burst = telegram.sent[-options.limited_count :]
        rate = (len(burst) - 1) / (burst[-1].at - burst[0].at)
        figures.throughput_limited = rate
        figures.cap_fraction = rate / FloodLimits().per_second
        figures.flood_429s = telegram.rate_limited
    finally:
        telegram.set_limits(None)
        telegram.latency = 0.0
        limited.stop()
    return figures


def _measure_blog(
    options: Options, url: str, telegram: FakeTelegram, client: redis.Redis
) -> Figures:
    channel = f"bench-blog-{uuid.uuid4().hex[:8]}"
    blog = BotProcess(["-m", "bot.tools.blog_loop"], _env(telegram, url, channel), "blog_ready")
    return _profile(blog, options, telegram, client, channel=channel, count=options.blog_count)


def _profile(
    process: BotProcess,
    options: Options,
    telegram: FakeTelegram,
    client: redis.Redis,
    *,
    channel: str,
    count: int,
) -> Figures:
    """The figures both implementations get: ready, idle, latency at a steady rate, and a burst
    of `count` with the API latency on. Stops the process."""
    figures = Figures(ready_s=process.ready_s)
    try:
        _idle(process, options, figures)
        _latency(options, telegram, client, channel, figures)
        telegram.latency = options.latency_ms / 1000
        cpu = process.cpu_seconds()
        figures.throughput_lifted, delivered = _send_and_wait(
            telegram, client, channel, count, options.users
        )
        figures.cpu_ms_per_msg = 1000 * (process.cpu_seconds() - cpu) / max(delivered, 1)
        figures.peak_rss_mb = process.memory_mb("VmHWM")
        figures.delivered, figures.published = delivered, count
    finally:
        telegram.latency = 0.0
        process.stop()
    return figures


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
        client.publish(channel, _note(n % options.users + 1, text))
    sent = telegram.wait_for_sent(
        lambda m: m.text in published,
        count=options.rate_count,
        timeout=30 + options.rate_count / options.rate,
    )
    samples = sorted((m.at - published[m.text]) * 1000 for m in sent)
    quantiles = statistics.quantiles(samples, n=100, method="inclusive")
    figures.latency_ms = {"p50": quantiles[49], "p95": quantiles[94], "p99": quantiles[98]}


def _send_and_wait(
    telegram: FakeTelegram, client: redis.Redis, channel: str, count: int, users: int
) -> tuple[float, int]:
    """Publish `count` notifications as fast as possible; notifications/s from the first
    publish to the last sendMessage received."""
    tag = uuid.uuid4().hex[:6]
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.publish(channel, _note(n % users + 1, f"burst {tag} {n}"))
    started = time.time()
    pipe.execute()
    prefix = f"burst {tag} "
    sent = telegram.wait_for_sent(
        lambda m: m.text.startswith(prefix), count=count, timeout=60 + count / 5
    )
    last = max(m.at for m in sent)
    return count / (last - started), len(sent)


def _note(user_id: int, message: str) -> str:
    return json.dumps({"user_id": user_id, "message": message})


Row = tuple[str, str | tuple[str, str], str, str]
ROWS: list[Row] = [
    ("time to ready (s)", "ready_s", "{:.2f}", "lower"),
    ("idle CPU (% of a core)", "idle_cpu_pct", "{:.2f}", "lower"),
    ("idle RSS (MB)", "idle_rss_mb", "{:.0f}", "lower"),
    ("throughput, limits lifted (msg/s)", "throughput_lifted", "{:.0f}", "higher"),
    ("CPU per delivered message (ms)", "cpu_ms_per_msg", "{:.2f}", "lower"),
    ("peak RSS in the burst (MB)", "peak_rss_mb", "{:.0f}", "lower"),
    ("throughput, Telegram limits (msg/s)", "throughput_limited", "{:.1f}", "higher"),
    ("  fraction of the 30/s cap", "cap_fraction", "{:.1%}", "higher"),
    ("  429s from the emulator", "flood_429s", "{}", "lower"),
]


def _print_table(report: dict[str, Any], out: TextIO) -> None:
    options, bot, blog = report["options"], report["bot"], report["blog"]
    print(
        f"notify-bot bench: {options['count']} notifications to {options['users']} users, "
        f"API latency {options['latency_ms']:g} ms (blog loop: {options['blog_count']}); "
        f"latency at {options['rate']:g}/s with 0 ms API latency",
        file=out,
    )
    print(f"{'':<38}{'bot':>10}{'blog loop':>12}{'ratio':>10}", file=out)
    latency: list[Row] = [
        (f"latency {q} (ms)", ("latency_ms", q), "{:.1f}", "lower") for q in ("p50", "p95", "p99")
    ]
    rows = [*ROWS[:3], *latency, *ROWS[3:]]
    for label, key, fmt, better in rows:
        ours, theirs = _get(bot, key), _get(blog, key)
        ratio = ""
        if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)) and theirs:
            if better == "higher" and ours:
                ratio = f"{ours / theirs:.1f}x"
            elif better == "lower":
                ratio = f"{theirs / ours:.1f}x" if ours else "inf"
        print(f"{label:<38}{_fmt(ours, fmt):>10}{_fmt(theirs, fmt):>12}{ratio:>10}", file=out)
    print(
        f"delivered {bot['delivered']} of {bot['published']} (bot), "
        f"{blog['delivered']} of {blog['published']} (blog loop); ratio: how many times "
        "better the bot is",
        file=out,
    )


def _get(figures: dict[str, Any], key: str | tuple[str, str]) -> Any:
    if isinstance(key, tuple):
        return figures[key[0]].get(key[1])
    return figures[key]


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
