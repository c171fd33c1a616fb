"""The commands that read no setting: the demo, the bench, the emulator, the JSON Schema."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.command import EXIT_FAILURE, EXIT_OK, Commands
from bot.cli.environment import quiet_logs
from bot.notification.json_schema import render
from bot.tools.bench.options import ONLY
from bot.tools.bench.options import Options as BenchOptions


def add_commands(commands: Commands) -> None:
    """demo, bench, emulator, schema and reference."""
    demo = commands.add_parser(
        "demo",
        help="play the whole story offline: embedded Redis, Telegram emulator, the real bot",
        description="Runs an embedded Redis, the Bot API emulator and the bot in one process, "
        "and prints a transcript: linking, a notification, an invalid payload, an admin's "
        "/stats. Needs no bot token and no network, and never uses REDIS_URL.",
    )
    demo.add_argument(
        "--redis-url",
        metavar="URL",
        help="run on this Redis database instead of the embedded one; it must be empty, and "
        "every key the demo makes is deleted at the end",
    )
    demo.add_argument(
        "--interactive",
        action="store_true",
        help="keep running: type chat messages as the demo user; publish from another terminal",
    )
    demo.set_defaults(func=_demo)
    _add_bench(commands)
    emulator = commands.add_parser(
        "emulator",
        help="run the Bot API emulator on its own, to point a bot (this one or yours) at",
        description="Serves the Bot API emulator on HOST:PORT and prints the BOT_TOKEN and "
        "TELEGRAM_BASE_URL to run a bot against it. Type '<user id> <text>' to write to the "
        "bot as that user; what the bot sends is printed. Ctrl-C stops it.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8081, help="port (default 8081; 0: any)")
    emulator.set_defaults(func=_emulator)
    commands.add_parser(
        "schema",
        help="print the notification's JSON Schema",
        description="Print the JSON Schema (2020-12) of a notification, for validating in other "
        "languages; docs/notification.schema.json holds the same.",
    ).set_defaults(func=_schema)
    reference = commands.add_parser(
        "reference",
        help="write the docs' reference pages from the code (settings, fields, commands, ...)",
        description="Writes DOCS/reference/*.md from the code: the settings, the notification's "
        "fields, the commands, the publisher's API, the log events, metrics, Redis keys and "
        "HTTP endpoints. --check writes nothing and exits 1 when a page is out of date.",
    )
    reference.add_argument(
        "--docs", metavar="DIR", type=Path, required=True, help="the docs directory to write into"
    )
    reference.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    reference.set_defaults(func=_reference)


def _reference(args: argparse.Namespace) -> int:
    from bot.cli import command_parser  # noqa: PLC0415 - the package imports this module
    from bot.tools.reference import main  # noqa: PLC0415 - LAZY, see bot.cli

    return main(args.docs, command_parser(), check=args.check)


def _add_bench(commands: Commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure throughput, latency, CPU and memory against the emulator",
        description="Runs a bare aiohttp sender (the floor), the real bot as a child process "
        "and the blog loop (the tutorials' serial design) against a Redis of its own (a "
        "redis-server process when one is installed, else fakeredis; never REDIS_URL) and the "
        "Bot API emulator with an injected latency, and prints a table (or --json). With the "
        "defaults it takes about 6 minutes on two cores; each part says on stderr when it "
        "starts and how long it took. Exits 1 when a goal is missed (--no-goals: 0).",
    )
    bench.add_argument(
        "--redis-url",
        metavar="URL",
        help="measure with this Redis database (e.g. a real redis-server) instead of the "
        "embedded one; refused if it holds keys, unless --yes-use-it; keys the bench makes "
        "are deleted at the end",
    )
    bench.add_argument(
        "--yes-use-it",
        action="store_true",
        help="use --redis-url although it holds keys: the bench links users 1..FANOUT_COUNT "
        "(or more, see docs/benchmarks.md) to fake chats there",
    )
    defaults = BenchOptions()
    for flag, name, kind, text in (
        ("--count", "count", int, "notifications in the burst with limits lifted"),
        ("--users", "users", int, "users they go to"),
        ("--latency-ms", "latency_ms", float, "latency the emulator adds to each request"),
        ("--limited-count", "limited_count", int, "notifications under Telegram's 30/s"),
        ("--paid-count", "paid_count", int, "notifications under the 1000/s of paid broadcasts"),
        ("--rate", "rate", float, "notifications per second for the latency measurement"),
        ("--rate-count", "rate_count", int, "notifications for the latency measurement"),
        ("--idle-seconds", "idle_seconds", float, "how long idle CPU is measured"),
        ("--blog-count", "blog_count", int, "notifications in the blog loop's burst"),
        ("--bursts", "bursts", int, "times each burst is run (the best counts)"),
        ("--bulk-count", "bulk_count", int, "bulk notifications queued before the high ones"),
        ("--high-count", "high_count", int, "high-priority notifications published after them"),
        ("--high-every", "high_every", float, "seconds between the high-priority ones"),
        ("--fanout-count", "fanout_count", int, "users linked; the fan-out goes to them all"),
        ("--scheduled-count", "scheduled_count", int, "scheduled notifications due at once"),
        ("--preferences-count", "preferences_count", int, "notifications with/without prefs"),
        ("--templates-count", "templates_count", int, "notifications templated/as message"),
    ):
        bench.add_argument(
            flag,
            dest=name,
            type=kind,
            default=getattr(defaults, name),
            help=f"{text} (default {getattr(defaults, name):g})",
        )
    bench.add_argument(
        "--no-load",
        dest="load",
        action="store_false",
        help="do not keep one core busy while the bot sends under Telegram's 30/s",
    )
    bench.add_argument(
        "--only",
        choices=ONLY,
        help="run this part alone (after linking the users it needs), its goals only",
    )
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument(
        "--no-goals",
        dest="goals",
        action="store_false",
        help="only measure: exit 0 even when a goal is missed",
    )
    bench.set_defaults(func=_bench)


def _demo(args: argparse.Namespace) -> int:
    from bot.tools.demo import run_demo  # noqa: PLC0415 - LAZY, see bot.cli

    quiet_logs()
    try:
        return asyncio.run(run_demo(args.redis_url, interactive=args.interactive, out=sys.stdout))
    except KeyboardInterrupt:  # Ctrl-C before the interactive part: nothing to clean up
        return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    quiet_logs()
    options = BenchOptions(
        **{
            name: getattr(args, name)
            for name in BenchOptions.__dataclass_fields__
            if name not in {"redis_url", "yes_use_it"}
        },
        redis_url=args.redis_url,
        yes_use_it=args.yes_use_it,
    )
    from bot.tools.bench.goals import missed_goals  # noqa: PLC0415 - LAZY, see bot.cli
    from bot.tools.bench.run import run_bench  # noqa: PLC0415 - LAZY, see bot.cli

    report = run_bench(options, as_json=args.json, out=sys.stdout, progress=sys.stderr)
    missed = missed_goals(report)
    for goal in missed:
        print(f"bench: goal missed: {goal}", file=sys.stderr)
    return EXIT_FAILURE if missed and args.goals else EXIT_OK


def _emulator(args: argparse.Namespace) -> int:
    from bot.tools.emulator import run_emulator  # noqa: PLC0415 - LAZY, see bot.cli

    return run_emulator(args.host, args.port, stdin=sys.stdin, out=sys.stdout)


def _schema(_args: argparse.Namespace) -> int:
    sys.stdout.write(render())
    return EXIT_OK
