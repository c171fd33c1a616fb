"""`python -m bot bench`: measure the real bot process against Redis and the Bot API emulator,
beside a bare aiohttp sender (the floor: what one HTTP request costs) and the blog post's serial
loop, with the same Redis and emulator. The Redis is a redis-server process of its own (the
embedded fakeredis if none is installed), or an empty database given with --redis-url (never
REDIS_URL)."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import redis

from bot.config.settings import PAID_BROADCAST_PER_SECOND, Settings
from bot.notification.parsing import parse_fields
from bot.telegram.compose import compose
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.bench.chats import chat_lines, measure_chats, measure_five_chats
from bot.tools.bench.goals import GOAL_CPU_MULTIPLE, GOAL_RICH_EXTRA, GOAL_THROUGHPUT_SHARE
from bot.tools.bench.instances import instances_lines, measure_instances
from bot.tools.bench.kit import CHAT_BASE, LIFTED, BotProcess, Progress, bot_env, link_users
from bot.tools.bench.lifecycle import lifecycle_lines, measure_lifecycle
from bot.tools.bench.options import Options
from bot.tools.bench.preferences import measure_preferences, preference_lines
from bot.tools.scratch import scratch_redis

# The bare sender keeps as many requests in flight as the bot's lanes.
CONCURRENCY: int = Settings.model_fields["delivery_concurrency"].default
# A 300-character HTML notification (the burst's tag in front) with two buttons, one of them
# an action (a key stored in Redis before the send): the burst's plain notification, rich.
RICH_HTML = (
    "<b>Order #17</b> has shipped. Your parcel with <i>3 items</i> left our warehouse today "
    'and is on its way. <a href="https://shop.example/t/17">Track it here</a>; estimated '
    "delivery <u>Tuesday</u>. Questions? Reply to this chat or read our "
    '<a href="https://shop.example/help">help pages</a>.'
)
RICH_BUTTONS = [
    [{"text": "Track parcel", "url": "https://shop.example/t/17"}],
    [{"text": "Received it", "action": "order-17:received"}],
]


@dataclass
class Figures:
    """What one implementation measured; None where it was not measured."""

    ready_s: float | None = None
    idle_cpu_pct: float | None = None
    idle_rss_mb: float | None = None
    throughput_lifted: float | None = None
    cpu_ms_per_msg: float | None = None
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


PARTS = 8  # the measurements below, for the progress lines


def run_bench(
    options: Options,
    out: TextIO = sys.stdout,
    *,
    as_json: bool = False,
    progress: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Run every measurement for the bare sender, the bot and the blog loop; print a table
    (or JSON), and which part runs to `progress`."""
    part = Progress(PARTS, progress).part
    scratch = scratch_redis(options.redis_url, "bench", allow_data=options.yes_use_it, server=True)
    # The emulator stamps a request when one of its threads gets to it: a garbage collection in
    # this process (116 ms, measured, once it has recorded some 20,000 calls) held them all and
    # then stamped a bunch at once, 429s that Telegram would never have answered. Collections
    # run between the measurements instead (BotProcess).
    with scratch as url, FakeTelegram() as telegram, _gc_off():
        client = redis.Redis.from_url(url)
        try:
            machine = _machine(client)
            with part(f"Redis memory of {options.fanout_count:,} users' chats"):
                chats = measure_chats(client, users=options.fanout_count)  # an empty Redis
            with part(f"linking {max(options.users, options.paid_count):,} users"):
                link_users(client, telegram, max(options.users, options.paid_count))
            with part("the bare sender (the floor)"):
                bare = _measure_bare(options, telegram)
            with part(f"the bot: {options.count:,} notifications, latency, Telegram's limits"):
                bot = _measure_bot(options, url, telegram, client)
            with part(f"the blog loop: {options.blog_count:,} notifications"):
                blog = _measure_blog(options, url, telegram, client)
            chats_too = functools.partial(
                measure_five_chats,
                telegram,
                client,
                figures=chats,
                sends=options.paid_count,
                users=options.paid_count,
                bursts=options.bursts,
            )
            with part("preferences, and users with five chats"):
                preferences = measure_preferences(
                    telegram,
                    client,
                    url,
                    count=options.preferences_count,
                    users=options.paid_count,
                    bursts=options.bursts,
                    latency_ms=options.latency_ms,
                    then=chats_too,  # the same bot: limits lifted, the same API latency
                )
            with part("a notification's whole life: priority, fan-out, schedule"):
                lifecycle = measure_lifecycle(
                    telegram,
                    client,
                    url,
                    users=options.users,
                    latency_ms=options.latency_ms,
                    bulk=options.bulk_count,
                    high=options.high_count,
                    high_every=options.high_every,
                    recipients=options.fanout_count,
                    scheduled=options.scheduled_count,
                )
            with part("one instance, then three, at the paid cap"):
                one, instances = (
                    measure_instances(
                        telegram,
                        client,
                        url,
                        count=options.paid_count,
                        latency_ms=options.latency_ms,
                        instances=number,
                    )
                    for number in (1, 3)
                )
        finally:
            client.close()
    report = {
        "options": asdict(options),
        "machine": machine,
        "bot": asdict(bot),
        "bare": asdict(bare),
        "blog": asdict(blog),
        "lifecycle": asdict(lifecycle),
        "preferences": asdict(preferences),
        "chats": asdict(chats),
        "instances": asdict(instances),
        "one_instance": asdict(one),
    }
    if as_json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        _print_table(report, out)
    return report


@contextlib.contextmanager
def _gc_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _machine(client: redis.Redis) -> str:
    try:
        info: Any = client.info("server")
        server = f"redis-server {info['redis_version']}"
    except (redis.ResponseError, KeyError):  # fakeredis knows no INFO
        server = "fakeredis"
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {server}"
    )


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


def _measure_bare(options: Options, telegram: FakeTelegram) -> Figures:
    """The bare aiohttp sender's burst: `count` sendMessage to the same chats, same latency,
    CONCURRENCY in flight; and the same with the body the bot sends for RICH_HTML with
    RICH_BUTTONS, alternating: a bigger request and answer cost something without any
    formatting, and this is how much."""
    env = bot_env(telegram, url="", channel="", BARE_RICH_PARAMS=json.dumps(_rich_params()))
    bare = BotProcess(["-m", "bot.tools.bench.bare_sender", str(CONCURRENCY)], env, "bare_ready")
    figures = Figures(ready_s=bare.ready_s)

    def burst(rich: bool) -> tuple[float, int]:
        tag = uuid.uuid4().hex[:6]
        started = time.time()
        kind = "rich" if rich else ""
        bare.tell(f"{CHAT_BASE + 1} {options.users} {options.count} {tag} {kind}")
        sent = telegram.wait_for_sent(
            lambda m: f"bare {tag} " in m.text,
            count=options.count,
            timeout=60 + options.count / 5,
        )
        return options.count / (max(m.at for m in sent) - started), len(sent)

    try:
        telegram.latency = options.latency_ms / 1000
        _bursts(options.bursts, bare, burst, figures, rich=True)
        figures.published = options.count
    finally:
        telegram.latency = 0.0
        bare.stop(exit_wait=0.5)
    return figures


def _rich_params() -> dict[str, Any]:
    """What the bot sends for RICH_HTML with RICH_BUTTONS (a made-up action key)."""
    parsed = parse_fields(
        {"user_id": 1, "message": RICH_HTML, "format": "html", "buttons": RICH_BUTTONS}
    )
    [call] = compose(parsed, action_key="k" * 12)
    return call.params


def _measure_bot(
    options: Options, url: str, telegram: FakeTelegram, client: redis.Redis
) -> Figures:
    channel = f"bench-{uuid.uuid4().hex[:8]}"
    # Limits lifted: what the pipeline itself can do (paid broadcasts cap Telegram at 1000/s).
    lifted = bot_env(telegram, url, channel, **LIFTED)
    bot = BotProcess(["-m", "bot"], lifted, '"event": "bot_ready"')
    figures = _profile(
        bot, options, telegram, client, channel=channel, count=options.count, rich=True
    )

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
    return figures


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
            _send_and_wait(telegram, client, channel, count, users)
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
                _send_and_wait(telegram, client, channel, count, users, rich=rich)
                best[rich] = min(best[rich], bot.cpu_seconds() - cpu)
            figures.paced_cpu_ms_per_msg = 1000 * best[False] / count
            figures.paced_rich_cpu_ms_per_msg = 1000 * best[True] / count
            limited = telegram.rate_limited
        return rate, limited
    finally:
        telegram.set_limits(None)
        telegram.latency = 0.0
        bot.stop()


def _measure_blog(
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
    rich: bool = False,
) -> Figures:
    """The figures both implementations get: ready, idle, latency at a steady rate, and a burst
    of `count` with the API latency on (`rich`: and bursts of formatted notifications with
    buttons, alternating with the plain ones). Stops the process."""
    figures = Figures(ready_s=process.ready_s)
    try:
        _idle(process, options, figures)
        _latency(options, telegram, client, channel, figures)
        telegram.latency = options.latency_ms / 1000
        _bursts(
            options.bursts,
            process,
            lambda formatted: _send_and_wait(
                telegram, client, channel, count, options.users, rich=formatted
            ),
            figures,
            rich=rich,
        )
        figures.published = count
    finally:
        telegram.latency = 0.0
        process.stop()
    return figures


def _bursts(
    times: int,
    process: BotProcess,
    burst: Callable[[bool], tuple[float, int]],
    figures: Figures,
    *,
    rich: bool,
) -> None:
    """Run `burst(False)` (-> rate, delivered) `times` times, each followed by `burst(True)`
    (RICH_HTML with RICH_BUTTONS) when `rich`, and keep the best rate and the least CPU per
    message of each kind: on a shared machine noise only ever adds, so the best of a few is
    the closest to what the code costs (timeit does the same). Delivered: the last plain
    burst's."""
    for _ in range(times):
        for formatted in (False, True) if rich else (False,):
            cpu = process.cpu_seconds()
            rate, delivered = burst(formatted)
            cpu_ms = 1000 * (process.cpu_seconds() - cpu) / max(delivered, 1)
            if formatted:
                figures.rich_cpu_ms_per_msg = min(cpu_ms, figures.rich_cpu_ms_per_msg or cpu_ms)
                continue
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
    telegram: FakeTelegram,
    client: redis.Redis,
    channel: str,
    count: int,
    users: int,
    *,
    rich: bool = False,
) -> tuple[float, int]:
    """Publish `count` notifications as fast as possible; notifications/s from the first
    publish to the last sendMessage received. `rich`: RICH_HTML with RICH_BUTTONS each."""
    tag = uuid.uuid4().hex[:6]
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        if rich:
            payload = {
                "user_id": n % users + 1,
                "message": f"burst {tag} {n} {RICH_HTML}",
                "format": "html",
                "buttons": RICH_BUTTONS,
            }
            pipe.publish(channel, json.dumps(payload))
        else:
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


Row = tuple[str, str | tuple[str, str], str]
ROWS: list[Row] = [
    ("time to ready (s)", "ready_s", "{:.2f}"),
    ("idle CPU (% of a core)", "idle_cpu_pct", "{:.2f}"),
    ("idle RSS (MB)", "idle_rss_mb", "{:.0f}"),
    ("latency p50 (ms)", ("latency_ms", "p50"), "{:.1f}"),
    ("latency p95 (ms)", ("latency_ms", "p95"), "{:.1f}"),
    ("latency p99 (ms)", ("latency_ms", "p99"), "{:.1f}"),
    ("throughput, limits lifted (msg/s)", "throughput_lifted", "{:.0f}"),
    ("CPU per delivered message (ms)", "cpu_ms_per_msg", "{:.2f}"),
    ("  300-char HTML with 2 buttons (ms)", "rich_cpu_ms_per_msg", "{:.2f}"),
    ("peak RSS in the burst (MB)", "peak_rss_mb", "{:.0f}"),
    ("throughput, Telegram limits (msg/s)", "throughput_limited", "{:.1f}"),
    ("  fraction of the 30/s cap", "cap_fraction", "{:.1%}"),
    ("  429s from the emulator", "flood_429s", "{}"),
    ("throughput, paid broadcasts (msg/s)", "throughput_paid", "{:.0f}"),
    ("  fraction of the 1000/s cap", "paid_cap_fraction", "{:.1%}"),
    ("  429s from the emulator (all bursts)", "paid_429s", "{}"),
    ("  CPU per message, plain (ms)", "paced_cpu_ms_per_msg", "{:.2f}"),
    ("  300-char HTML with 2 buttons (ms)", "paced_rich_cpu_ms_per_msg", "{:.2f}"),
]


def _print_table(report: dict[str, Any], out: TextIO) -> None:
    options, bot, bare, blog = report["options"], report["bot"], report["bare"], report["blog"]
    load = "one core kept busy at 30/s" if options["load"] else "no other load"
    lines = [
        f"notify-bot bench on {report['machine']}: one run; figures vary from day to day, "
        "the ratios between columns are what to compare",
        f"{options['count']} notifications to {options['users']} users (best of "
        f"{options['bursts']} bursts), API latency "
        f"{options['latency_ms']:g} ms, {CONCURRENCY} in flight (blog loop: "
        f"{options['blog_count']}, one at a time); latency at {options['rate']:g}/s with 0 ms "
        f"API latency; under the limits ({options['limited_count']} at 30/s, "
        f"{options['paid_count']} at 1000/s): {load}",
        f"{'':<38}{'bot':>10}{'bare sender':>13}{'blog loop':>11}",
    ]
    for label, key, fmt in ROWS:
        ours, floor, theirs = (_fmt(_get(figures, key), fmt) for figures in (bot, bare, blog))
        lines.append(f"{label:<38}{ours:>10}{floor:>13}{theirs:>11}")
    lines += [
        f"bot against the bare sender: {_ratio(bot, bare, 'cpu_ms_per_msg')} its CPU per "
        f"message (goal <= {GOAL_CPU_MULTIPLE:g}x), {_share(bot, bare)} of its throughput "
        f"(goal >= {GOAL_THROUGHPUT_SHARE:.0%})",
        f"formatted with buttons against plain, both paced at 1000/s: "
        f"{_extra(bot, 'paced_')} CPU per message (goal <= +{GOAL_RICH_EXTRA:.0%}); "
        f"limits lifted: bot {_extra(bot)}, bare sender {_extra(bare)} (the same request, no "
        f"formatting), the bot's rich "
        f"{_ratio_of(bot, 'rich_cpu_ms_per_msg', bare, 'cpu_ms_per_msg')} the bare sender's plain",
        f"bot against the blog loop: {_ratio(blog, bot, 'cpu_ms_per_msg')} less CPU per "
        f"message, {_ratio(bot, blog, 'throughput_lifted')} its throughput",
        f"delivered {bot['delivered']} of {bot['published']} (bot), {bare['delivered']} of "
        f"{bare['published']} (bare sender), {blog['delivered']} of {blog['published']} "
        "(blog loop)",
        *lifecycle_lines(report["lifecycle"], options),
        *preference_lines(report["preferences"]),
        *chat_lines(report["chats"]),
        *instances_lines(report["instances"], report["one_instance"]),
    ]
    print("\n".join(lines), file=out)


def _ratio(top: dict[str, Any], bottom: dict[str, Any], key: str) -> str:
    return _ratio_of(top, key, bottom, key)


def _ratio_of(top: dict[str, Any], key: str, bottom: dict[str, Any], bottom_key: str) -> str:
    if not top.get(key) or not bottom.get(bottom_key):
        return "-"
    return f"{top[key] / bottom[bottom_key]:.1f}x"


def _extra(figures: dict[str, Any], prefix: str = "") -> str:
    rich, plain = (
        figures.get(f"{prefix}rich_cpu_ms_per_msg"),
        figures.get(f"{prefix}cpu_ms_per_msg"),
    )
    if not rich or not plain:
        return "-"
    return f"{rich / plain - 1:+.0%}"


def _share(bot: dict[str, Any], bare: dict[str, Any]) -> str:
    if not bot.get("throughput_lifted") or not bare.get("throughput_lifted"):
        return "-"
    return f"{bot['throughput_lifted'] / bare['throughput_lifted']:.0%}"


def _get(figures: dict[str, Any], key: str | tuple[str, str]) -> Any:
    if isinstance(key, tuple):
        return figures[key[0]].get(key[1])
    return figures[key]


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
