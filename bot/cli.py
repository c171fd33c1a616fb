"""The command line: one entry point, `python -m bot COMMAND`, `--help` on every command."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Literal, NoReturn, TypeAlias

import structlog
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from bot import __version__
from bot.config.logging import configure_logging
from bot.config.settings import ConfigError, Settings, load_settings
from bot.notification.schema import PRIORITY_RANK, Notification
from bot.publisher import (
    AsyncPublisher,
    Button,
    ContentOptions,
    DeliveryOptions,
    EditOptions,
)
from bot.store import client as redis_client
from bot.tools.bench.options import Options as BenchOptions

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# LAZY: a command imports the bot, python-telegram-bot and the tools only when it runs them:
# `publish`, `enqueue`, `--version` and `--help` start in ~0.4 s instead of ~0.9 s (measured:
# importing the bot is half a second of a web app's cron job or a script's loop).

log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one command, and return its exit code."""
    args = _parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, not at exit: a reader gone is handled below
    except BrokenPipeError:
        # `python -m bot schema | head -1`: the reader has what it wanted. Quiet, as Unix tools
        # are; stdout goes to /dev/null so that the interpreter's last flush fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command or "run"
    try:
        return COMMANDS[command](args)
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    except ValueError as exc:  # a notification the bot would refuse
        return _fail(f"error: {exc}", EXIT_USAGE)
    except RedisError as exc:
        return _fail(f"error: Redis: {exc}", debug=args.debug)
    except BrokenPipeError:
        raise  # the reader of our output left: main ends quietly
    except Exception as exc:
        if command == "run":
            # Logged through the redacting pipeline, so the traceback carries no token.
            log.exception("bot_crashed")
            return EXIT_FAILURE
        return _fail(f"error: {type(exc).__name__}: {exc}", debug=args.debug)


def _fail(message: str, code: int = EXIT_FAILURE, *, debug: bool = False) -> int:
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _notification_flags(command: argparse.ArgumentParser, *, priority: str = "normal") -> None:
    """A flag for each optional field of a notification (README: the notification's fields)."""
    _look_flags(command)
    media = command.add_mutually_exclusive_group()
    media.add_argument("--photo", metavar="URL_OR_FILE_ID", help="a photo; MESSAGE is its caption")
    media.add_argument(
        "--document", metavar="URL_OR_FILE_ID", help="a file; MESSAGE is its caption"
    )
    command.add_argument(
        "--expires-at",
        type=_when,
        metavar="WHEN",
        help="not sent after WHEN: ISO 8601 with a time zone (2026-12-01T09:00:00+01:00, ...Z) "
        "or +SECONDS from now",
    )
    command.add_argument(
        "--ttl",
        type=float,
        metavar="SECONDS",
        help="not sent later than SECONDS after publishing (not with --expires-at)",
    )
    command.add_argument(
        "--deliver-at",
        type=_when,
        metavar="WHEN",
        help="held until WHEN (at most a year ahead): ISO 8601 with a time zone or +SECONDS",
    )
    _priority_flag(command, priority)
    command.add_argument(
        "--category",
        metavar="NAME",
        help="its kind, one of CATEGORIES: users who muted it do not get it",
    )
    command.add_argument(
        "--mute-button",
        action="store_true",
        help="a button under it that mutes its --category for the user",
    )
    command.add_argument(
        "--chats",
        choices=("all", "private", "groups", "channels"),
        default="all",
        help="which of the user's chats get it (default: all)",
    )


def _look_flags(command: argparse.ArgumentParser) -> None:
    """How the message is read and shown: the flags a send and an edit share."""
    command.add_argument(
        "--format",
        choices=("text", "html", "markdown"),
        default="text",
        help="how MESSAGE is read (default: text, sent as is)",
    )
    # Both append to one list: the buttons come out in the order they were given.
    command.add_argument(
        "--button",
        action="append",
        dest="buttons",
        default=[],
        metavar="TEXT=URL",
        type=_button("url"),
        help="a button that opens URL (repeat for more; each on its own row)",
    )
    command.add_argument(
        "--action",
        action="append",
        dest="buttons",
        default=[],
        metavar="TEXT=ACTION",
        type=_button("action"),
        help="a button whose tap reports ACTION on ACTIONS_STREAM (repeat for more)",
    )
    command.add_argument("--silent", action="store_true", help="arrives without a sound")
    command.add_argument("--no-preview", action="store_true", help="no link preview")
    command.add_argument("--protect", action="store_true", help="cannot be forwarded or saved")
    command.add_argument("--thread-id", type=int, metavar="N", help="the forum topic to post in")


def _priority_flag(command: argparse.ArgumentParser, default: str) -> None:
    command.add_argument(
        "--priority",
        choices=("high", "normal", "bulk"),
        help=f"how urgent: the bot takes high first, bulk last (default: {default})",
    )


def _button(kind: str) -> Callable[[str], Button]:
    def parse(value: str) -> Button:
        text, sign, target = value.partition("=")
        if not sign or not text or not target:
            raise argparse.ArgumentTypeError(f"expected TEXT={kind.upper()}, got {value!r}")
        return Button.url(text, target) if kind == "url" else Button.action(text, target)

    return parse


def _when(value: str) -> str | float:
    """--expires-at, --deliver-at: +SECONDS gives seconds from now; anything else is passed on
    as ISO 8601, for the model to read or refuse naming the field. A bare number is refused
    here, saying what was likely meant: Unix seconds and seconds from now are too easily
    taken for each other."""
    if value.startswith("+"):
        with suppress(ValueError):
            return float(value[1:])
    with suppress(ValueError):
        float(value)
        raise argparse.ArgumentTypeError(
            f"{value!r} is a bare number: +{value} for {value} seconds from now, or a time "
            "with its zone (2026-12-24T18:00:00+01:00)"
        )
    return value


def _user_ids(value: str) -> list[int]:
    """--users 1,2,3; empty gives [], for the model to refuse with its own words."""
    try:
        return [int(part) for part in value.split(",")] if value.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected user ids separated by commas, got {value[:40]!r}"
        ) from None


def _rows(args: argparse.Namespace) -> list[list[Button]] | None:
    return [[button] for button in args.buttons] or None


def _content(args: argparse.Namespace) -> ContentOptions:
    return ContentOptions(
        format=args.format,
        buttons=_rows(args),
        silent=args.silent,
        preview=not args.no_preview,
        protect=args.protect,
        thread_id=args.thread_id,
        photo=args.photo,
        document=args.document,
    )


def _delivery(args: argparse.Namespace) -> DeliveryOptions:
    expires_at = args.expires_at
    if isinstance(expires_at, float):  # +SECONDS: expires_at takes a moment, not a delay
        expires_at += time.time()
    return DeliveryOptions(
        expires_at=expires_at,
        ttl=args.ttl,
        deliver_at=args.deliver_at,  # the publisher reads a number as seconds from now
        priority=args.priority,
        category=args.category,
        mute_button=args.mute_button,
        chats=args.chats,
    )


def _edit_options(args: argparse.Namespace) -> EditOptions:
    buttons = _rows(args)
    if args.no_buttons:
        if buttons:
            raise ValueError("--no-buttons and --button/--action: give one of them, not both")
        buttons = []  # [] reaches the bot: no buttons; None leaves the field out
    return EditOptions(
        format=args.format,
        buttons=buttons,
        silent=args.silent,
        preview=not args.no_preview,
        protect=args.protect,
        thread_id=args.thread_id,
        priority=args.priority,
    )


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error (--help has the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bot",
        description="Deliver notifications published on Redis as Telegram messages.",
        epilog="Settings come from the environment or a .env file; see README.md.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"notify-bot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)", description="Run the bot.")
    link = commands.add_parser(
        "link",
        help="print a deep link for each user id",
        description="Print one https://t.me/<bot>?start=<token> link per user id. "
        "Opening it in Telegram links that chat to the user id.",
    )
    link.add_argument("user_ids", type=int, nargs="+", metavar="USER_ID")
    chat_kind = link.add_mutually_exclusive_group()
    chat_kind.add_argument(
        "--group",
        action="store_true",
        help="a https://t.me/<bot>?startgroup= link: it adds the bot to a group the opener "
        "picks (an administrator of it) and links that group",
    )
    chat_kind.add_argument(
        "--channel",
        action="store_true",
        help="a /link <token> line for an administrator to post in a channel where the bot "
        "is an administrator",
    )
    migrate = commands.add_parser(
        "migrate",
        help="bring the chat registry in Redis to this version's schema (or back: --to 1)",
        description="Bring the chat registry in Redis to this version's schema (the bot does it "
        "on start too), or with --to 1 write it back for the version before several chats per "
        "user (each user keeps the oldest chat). Roll back with no bot running.",
    )
    migrate.add_argument("--to", type=int, choices=(1, 2), default=2, help="schema version")
    _send_commands(commands)
    _follow_up_commands(commands)
    _fan_out_command(commands)
    commands.add_parser(
        "check",
        help="check configuration, Redis, the Telegram token and the listeners",
        description="One line per check: configuration, Redis (version, latency), Telegram "
        "(getMe: the bot's username), and who listens on the channel and the stream. "
        "Exits 1 if any check fails, 2 if the configuration is invalid.",
    )
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
        "(or more, see README) to fake chats there",
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
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument(
        "--no-goals",
        dest="goals",
        action="store_false",
        help="only measure: exit 0 even when a goal is missed",
    )
    emulator = commands.add_parser(
        "emulator",
        help="run the Bot API emulator on its own, to point a bot (this one or yours) at",
        description="Serves the Bot API emulator on HOST:PORT and prints the BOT_TOKEN and "
        "TELEGRAM_BASE_URL to run a bot against it. Type '<user id> <text>' to write to the "
        "bot as that user; what the bot sends is printed. Ctrl-C stops it.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8081, help="port (default 8081; 0: any)")
    commands.add_parser(
        "schema",
        help="print the notification's JSON Schema",
        description="Print the JSON Schema of a notification, for validating in other languages.",
    )
    return parser


# A string: argparse's class is generic to type checkers only.
Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _send_commands(commands: Commands) -> None:
    for name, summary, description in (
        (
            "publish",
            "publish a notification (the durable stream, or --via pubsub); prints where it went",
            "Publish one notification as a web app's publish() does: on the durable stream of "
            "its --priority (NOTIFICATION_STREAM), where it waits until a bot delivers it; "
            "prints the stream and the entry id. With --via pubsub (or no NOTIFICATION_STREAM) "
            "on NOTIFICATION_CHANNEL instead, marked for this database's bot: only a bot "
            "listening now receives it; prints the number of receivers (0: lost).",
        ),
        (
            "enqueue",
            "add a notification to the durable stream; prints the stream entry id",
            "Add one notification to NOTIFICATION_STREAM (the stream of its --priority). It "
            "waits in Redis until a bot delivers it, even one started later. Prints the stream "
            "entry id.",
        ),
    ):
        sender = commands.add_parser(name, help=summary, description=description)
        sender.add_argument("user_id", type=int, metavar="USER_ID")
        sender.add_argument("message", metavar="MESSAGE")
        sender.add_argument("--id", help="idempotency key: the same id is delivered only once")
        if name == "publish":
            sender.add_argument(
                "--via",
                choices=("stream", "pubsub"),
                default="stream",
                help="stream (the default: durable) or pubsub (lost if no bot listens now)",
            )
        _notification_flags(sender)


def _follow_up_commands(commands: Commands) -> None:
    """edit, delete and cancel: acting on an earlier notification by its id."""
    edit = commands.add_parser(
        "edit",
        help="change what was sent for a notification id; prints the stream entry id",
        description="Add an edit of notification ID, sent to USER_ID, to the durable stream: a "
        "new MESSAGE and/or buttons. Buttons not given are removed, as in Telegram; "
        "--no-buttons without MESSAGE removes them and keeps the text. It goes on the stream of "
        "--priority: enqueued after its send with the same priority, it applies after it.",
    )
    edit.add_argument("id", metavar="ID")
    edit.add_argument("user_id", type=int, metavar="USER_ID")
    edit.add_argument("message", nargs="?", metavar="MESSAGE")
    _look_flags(edit)
    edit.add_argument("--no-buttons", action="store_true", help="remove the buttons")
    _priority_flag(edit, "normal")
    delete = commands.add_parser(
        "delete",
        help="delete what was sent for a notification id; prints the stream entry id",
        description="Add a delete of notification ID, sent to USER_ID, to the durable stream "
        "(of --priority).",
    )
    delete.add_argument("id", metavar="ID")
    delete.add_argument("user_id", type=int, metavar="USER_ID")
    _priority_flag(delete, "normal")
    cancel = commands.add_parser(
        "cancel",
        help="stop a scheduled notification or a fan-out; prints the stream entry id",
        description="Add a cancel of notification ID to the durable stream: one held for its "
        "deliver_at is dropped, a fan-out stops (what was sent stays).",
    )
    cancel.add_argument("id", metavar="ID")


def _fan_out_command(commands: Commands) -> None:
    fan_out = commands.add_parser(
        "fan-out",
        help="one notification to many users, or all; prints the stream entry id",
        description="Add one notification for many users (--users, 1 to 10,000) or every linked "
        "user (--all) to the durable stream, bulk priority unless --priority says otherwise. "
        "Prints the stream entry id.",
    )
    audience = fan_out.add_mutually_exclusive_group(required=True)
    audience.add_argument("--users", type=_user_ids, metavar="ID,ID,...", help="the user ids")
    audience.add_argument("--all", action="store_true", help="every linked user")
    fan_out.add_argument("message", metavar="MESSAGE")
    fan_out.add_argument("--id", help="names the fan-out, for cancel and its receipts")
    fan_out.add_argument(
        "--receipts",
        choices=("summary", "each"),
        default="summary",
        help="one receipt at the end (default), or one per recipient too",
    )
    _notification_flags(fan_out, priority="bulk")


def _settings(command: str, *, require_token: bool) -> Settings:
    settings = load_settings(require_token=require_token)
    # Logs go to stdout for the long-running bot (what platforms collect); other commands keep
    # stdout for their output and log only warnings, to stderr.
    running = command == "run"
    configure_logging(
        settings.log_level if running else "WARNING",
        settings.log_format,
        secrets=settings.secrets,
        stream=sys.stdout if running else sys.stderr,
        color=not settings.no_color,
    )
    return settings


def _run(_args: argparse.Namespace) -> int:
    from bot import runtime  # noqa: PLC0415 - see LAZY

    settings = _settings("run", require_token=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await runtime.run(settings, stop)

    # What the imports made (modules, classes: 95,000 of the 98,000 objects a running bot
    # tracks) lives as long as the process: no garbage collection need look at it again. A
    # full collection took 63 ms here, a stall in the middle of a burst; after this, ~0.
    gc.collect()
    gc.freeze()
    asyncio.run(serve())
    return EXIT_OK


def _link(args: argparse.Namespace) -> int:
    settings = _settings("link", require_token=not args.channel)  # a channel's needs no getMe
    if args.channel:
        return asyncio.run(_print_channel_lines(settings, args.user_ids))
    return asyncio.run(_print_links(settings, args.user_ids, group=args.group))


async def _print_channel_lines(settings: Settings, user_ids: Sequence[int]) -> int:
    """No deep link exists for a channel: its administrator posts the token there."""
    async with _publisher(settings) as publisher:
        for user_id in user_ids:
            token = await publisher.create_link_token(
                user_id, kind="channel", ttl=settings.link_ttl_seconds
            )
            print(f"/link {token}")
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from bot.store import schema  # noqa: PLC0415 - see LAZY

    settings = _settings("migrate", require_token=False)
    if args.to == 1:
        client = Redis.from_url(settings.redis_url)
        try:
            kept, dropped = schema.roll_back(client)
        except schema.BotsRunning as exc:
            return _fail(f"error: {exc}")
        finally:
            client.close()
        print(f"schema 1: {kept} users keep their oldest chat; {dropped} other chats unlinked")
        return EXIT_OK

    async def up() -> schema.Migrated:
        client = AsyncRedis.from_url(settings.redis_url)
        try:
            return await schema.migrate(client)
        except schema.SchemaTooNew as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from None
        finally:
            await client.aclose()

    done = asyncio.run(up())
    print(f"schema {schema.VERSION} (was {done.before}); {done.moved} links moved")
    return EXIT_OK


async def _print_links(settings: Settings, user_ids: Sequence[int], *, group: bool) -> int:
    from telegram import Bot  # noqa: PLC0415 - see LAZY
    from telegram.error import InvalidToken, TelegramError  # noqa: PLC0415

    bot = Bot(settings.token, base_url=settings.telegram_base_url)
    try:
        async with bot:  # getMe: the username goes into the link
            username = bot.username
    except InvalidToken:
        raise ConfigError("BOT_TOKEN: rejected by Telegram (Unauthorized)") from None
    except TelegramError as exc:
        return _fail(f"error: cannot reach Telegram: {exc.message}")
    async with _publisher(settings) as publisher:
        for user_id in user_ids:
            print(
                await publisher.create_link(
                    user_id, ttl=settings.link_ttl_seconds, bot_username=username, group=group
                )
            )
    return EXIT_OK


PublisherCall = Callable[[AsyncPublisher, argparse.Namespace], Awaitable[object]]


def _through_publisher(call: PublisherCall) -> Callable[[argparse.Namespace], int]:
    """A command that makes one call of an AsyncPublisher and prints what it returns."""

    def command(args: argparse.Namespace) -> int:
        settings = _settings(args.command, require_token=False)

        async def send() -> None:
            async with _publisher(settings) as publisher:
                print(await call(publisher, args))

        asyncio.run(send())
        return EXIT_OK

    return command


async def _publish(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    published = await publisher.publish(
        args.user_id, args.message, via=args.via, id=args.id, **_content(args), **_delivery(args)
    )
    if published.entry_id is not None:
        rank = PRIORITY_RANK[args.priority or "normal"]
        stream = redis_client.priority_streams(publisher.stream)[rank]
        return f"queued on stream {stream}: {published.entry_id}"
    why = "" if args.via == "pubsub" else " (NOTIFICATION_STREAM is empty)"
    lost = " (no bot is listening: it is lost)" if published == 0 else ""
    plural = "" if published == 1 else "s"
    return f"published on channel {publisher.channel}{why}: {published} receiver{plural}{lost}"


async def _enqueue(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.enqueue(
        args.user_id, args.message, id=args.id, **_content(args), **_delivery(args)
    )


async def _edit(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.edit(args.id, args.user_id, args.message, **_edit_options(args))


async def _delete(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.delete(args.id, args.user_id, priority=args.priority)


async def _cancel(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.cancel(args.id)


async def _fan_out(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    users: list[int] | Literal["all"] = "all" if args.all else args.users
    return await publisher.fan_out(
        users,
        args.message,
        id=args.id,
        receipts=args.receipts,
        **_content(args),
        **_delivery(args),
    )


@asynccontextmanager
async def _publisher(settings: Settings) -> AsyncIterator[AsyncPublisher]:
    """An AsyncPublisher on a connection of its own, closed on exit."""
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    async with client:
        yield AsyncPublisher(
            client,
            settings.notification_channel,
            settings.notification_stream,
            settings.stream_maxlen,
            settings.actions_stream,
        )


def _check(_args: argparse.Namespace) -> int:
    from bot.ops.check import run_checks  # noqa: PLC0415 - see LAZY

    checks = asyncio.run(run_checks())
    for check in checks:
        print(check.line())
    if not checks[0].ok:
        return EXIT_USAGE
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILURE


def _quiet_logs() -> None:
    """For the self-contained commands: only errors logged, to stderr, so their own output
    stays readable. They read no setting: REDIS_URL names the user's real Redis, which they
    must not touch."""
    configure_logging("ERROR", "console", stream=sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    from bot.tools.demo import run_demo  # noqa: PLC0415 - see LAZY

    _quiet_logs()
    try:
        return asyncio.run(run_demo(args.redis_url, interactive=args.interactive))
    except KeyboardInterrupt:  # Ctrl-C before the interactive part: nothing to clean up
        return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    _quiet_logs()
    options = BenchOptions(
        **{
            name: getattr(args, name)
            for name in BenchOptions.__dataclass_fields__
            if name not in {"redis_url", "yes_use_it"}
        },
        redis_url=args.redis_url,
        yes_use_it=args.yes_use_it,
    )
    from bot.tools.bench.goals import missed_goals  # noqa: PLC0415 - see LAZY
    from bot.tools.bench.run import run_bench  # noqa: PLC0415 - see LAZY

    missed = missed_goals(run_bench(options, as_json=args.json))
    for goal in missed:
        print(f"bench: goal missed: {goal}", file=sys.stderr)
    return EXIT_FAILURE if missed and args.goals else EXIT_OK


def _emulator(args: argparse.Namespace) -> int:
    from bot.tools.emulator import run_emulator  # noqa: PLC0415 - see LAZY

    return run_emulator(args.host, args.port)


def _schema(_args: argparse.Namespace) -> int:
    print(json.dumps(Notification.model_json_schema(), indent=2))
    return EXIT_OK


Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {
    "run": _run,
    "link": _link,
    "migrate": _migrate,
    "publish": _through_publisher(_publish),
    "enqueue": _through_publisher(_enqueue),
    "edit": _through_publisher(_edit),
    "delete": _through_publisher(_delete),
    "cancel": _through_publisher(_cancel),
    "fan-out": _through_publisher(_fan_out),
    "check": _check,
    "demo": _demo,
    "schema": _schema,
    "bench": _bench,
    "emulator": _emulator,
}
