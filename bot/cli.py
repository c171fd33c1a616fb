"""The command line: `run` (the default) starts the bot; `link` prints deep links."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import structlog
from redis.exceptions import RedisError
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot import app, redis_client
from bot.publisher import AsyncPublisher
from config.logging import configure_logging
from config.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, load settings, and run one command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    command = args.command or "run"
    # Logs go to stdout for the long-running bot (what platforms collect); other commands keep
    # stdout for their output.
    configure_logging(
        settings.log_level if command == "run" else "WARNING",
        settings.log_format,
        secrets=[settings.bot_token.get_secret_value(), *settings.redis_secrets],
        stream=sys.stdout if command == "run" else sys.stderr,
    )
    try:
        return asyncio.run(COMMANDS[command](settings, args))
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    except ValueError as exc:  # a notification the bot would refuse
        return _fail(f"error: {exc}", EXIT_USAGE)
    except RedisError as exc:
        return _fail(f"error: Redis at {redis_client.describe(settings.redis_url)}: {exc}")
    except Exception:
        # Logged through the redacting pipeline, so the traceback carries no token.
        log.exception("bot_crashed")
        return EXIT_FAILURE


def _fail(message: str, code: int = EXIT_FAILURE) -> int:
    print(message, file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Deliver notifications published on Redis as Telegram messages.",
        epilog="Settings come from the environment or a .env file; see README.md.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)", description="Run the bot.")
    link = commands.add_parser(
        "link",
        help="print a deep link for each user id",
        description="Print one https://t.me/<bot>?start=<token> link per user id. "
        "Opening it in Telegram links that chat to the user id.",
    )
    link.add_argument("user_ids", type=int, nargs="+", metavar="USER_ID")
    for name, summary, description in (
        (
            "publish",
            "publish a notification on the pub/sub channel; prints how many bots received it",
            "Publish one notification on NOTIFICATION_CHANNEL, as a web app does. Only a running "
            "bot receives it. Prints the number of receivers (0: no bot is listening).",
        ),
        (
            "enqueue",
            "add a notification to the durable stream; prints the stream entry id",
            "Add one notification to NOTIFICATION_STREAM. It waits in Redis until a bot "
            "delivers it, even one started later. Prints the stream entry id.",
        ),
    ):
        sender = commands.add_parser(name, help=summary, description=description)
        sender.add_argument("user_id", type=int, metavar="USER_ID")
        sender.add_argument("message", metavar="MESSAGE")
        sender.add_argument("--id", help="idempotency key: the same id is delivered only once")
    return parser


async def _run(settings: Settings, _args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await app.run(settings, stop)
    return EXIT_OK


async def _link(settings: Settings, args: argparse.Namespace) -> int:
    bot = Bot(settings.bot_token.get_secret_value(), base_url=settings.telegram_base_url)
    try:
        async with bot:  # getMe: the username goes into the link
            username = bot.username
    except InvalidToken:
        raise ConfigError("BOT_TOKEN was rejected by Telegram (Unauthorized)") from None
    except TelegramError as exc:
        return _fail(f"error: cannot reach Telegram: {exc.message}")
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    async with client:
        publisher = AsyncPublisher(client, settings.notification_channel)
        for user_id in args.user_ids:
            print(
                await publisher.create_link(
                    user_id, ttl=settings.link_ttl_seconds, bot_username=username
                )
            )
    return EXIT_OK


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    async with client:
        publisher = AsyncPublisher(
            client,
            settings.notification_channel,
            settings.notification_stream,
            settings.stream_maxlen,
        )
        if args.command == "publish":
            print(await publisher.publish(args.user_id, args.message, id=args.id))
        else:
            print(await publisher.enqueue(args.user_id, args.message, id=args.id))
    return EXIT_OK


Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]
COMMANDS: dict[str, Command] = {"run": _run, "link": _link, "publish": _send, "enqueue": _send}
