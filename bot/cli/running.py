"""The operator's commands: run the bot, and check what it needs before that."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal

import structlog

from bot.cli import environment
from bot.cli.command import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, REPORTED, Commands

log = structlog.get_logger(__name__)


def add_commands(commands: Commands) -> None:
    """run (also what no command means: see bot.cli) and check."""
    commands.add_parser(
        "run", help="run the bot (the default)", description="Run the bot."
    ).set_defaults(func=run_bot)
    commands.add_parser(
        "check",
        help="check configuration, Redis, the Telegram token and the listeners",
        description="One line per check: configuration, Redis (version, latency), Telegram "
        "(getMe: the bot's username), and who listens on the channel and the stream. "
        "Exits 1 if any check fails, 2 if the configuration is invalid.",
    ).set_defaults(func=_check)


def run_bot(_args: argparse.Namespace) -> int:
    """Run the bot until SIGTERM or SIGINT. A crash is logged, not printed as one line: the
    long-running bot's output is its logs."""
    try:
        return _serve()
    except REPORTED:
        raise  # a setting, a refused value, Redis: one line, as for every command
    except Exception:
        # Logged through the redacting pipeline, so the traceback carries no token.
        log.exception("bot_crashed")
        return EXIT_FAILURE


def _serve() -> int:
    from bot import runtime  # noqa: PLC0415 - LAZY, see bot.cli

    settings = environment.settings(require_token=True, running=True)

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


def _check(_args: argparse.Namespace) -> int:
    from bot.ops.check import run_checks  # noqa: PLC0415 - LAZY, see bot.cli

    checks = asyncio.run(run_checks())
    for check in checks:
        print(check.line())
    if not checks[0].ok:
        return EXIT_USAGE
    return EXIT_OK if all(check.ok for check in checks) else EXIT_FAILURE
