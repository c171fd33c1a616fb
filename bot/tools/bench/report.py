"""The bench's report as a table: the bot, the bare sender and the blog loop side by side, their
ratios against the goals, then each other part's lines (with --only, that part's alone)."""

from __future__ import annotations

from typing import Any, TextIO

from bot.tools.bench.chats import chat_lines
from bot.tools.bench.goals import GOAL_CPU_MULTIPLE, GOAL_RICH_EXTRA, GOAL_THROUGHPUT_SHARE
from bot.tools.bench.head_to_head import CONCURRENCY
from bot.tools.bench.instances import instances_lines
from bot.tools.bench.lifecycle import lifecycle_lines
from bot.tools.bench.preferences import preference_lines
from bot.tools.bench.templated import template_lines

# A row of the table: its label, the figure (a Figures field, or a key in one), its format.
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
    ("  one per user: throughput (msg/s)", "spread_throughput_lifted", "{:.0f}"),
    ("  one per user: CPU per message (ms)", "spread_cpu_ms_per_msg", "{:.2f}"),
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


def print_table(report: dict[str, Any], out: TextIO) -> None:
    if "bot" not in report:  # --only: that part's lines
        print(f"notify-bot bench on {report['machine']}: one run, one part", file=out)
        print("\n".join(template_lines(report["templates"], report["options"])), file=out)
        return
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
        f"bot against the bare sender ({options['count'] // max(options['users'], 1)} per "
        f"user): {_ratio(bot, bare, 'cpu_ms_per_msg')} its CPU per message (goal <= "
        f"{GOAL_CPU_MULTIPLE:g}x), {_share(bot, bare)} of its throughput (goal >= "
        f"{GOAL_THROUGHPUT_SHARE:.0%}); one per user: "
        f"{_ratio(bot, bare, 'spread_cpu_ms_per_msg')}, {_share(bot, bare, 'spread_')}",
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
        *template_lines(report["templates"], options),
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


def _share(bot: dict[str, Any], bare: dict[str, Any], prefix: str = "") -> str:
    key = f"{prefix}throughput_lifted"
    if not bot.get(key) or not bare.get(key):
        return "-"
    return f"{bot[key] / bare[key]:.0%}"


def _get(figures: dict[str, Any], key: str | tuple[str, str]) -> Any:
    if isinstance(key, tuple):
        return figures[key[0]].get(key[1])
    return figures[key]


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
