"""The command line: `python -m bot COMMAND`, with one module per group of commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import links, running, sending, templates, tools
from bot.cli.command import EXIT_OK, Commands, Parser, run

# LAZY: a command imports the bot, python-telegram-bot and the tools only when it runs them:
# `publish`, `enqueue`, `--version` and `--help` start in ~0.4 s instead of ~0.9 s (measured:
# importing the bot is half a second of a web app's cron job or a script's loop). So the
# command modules import those inside their handlers.

__all__ = ["command_names", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one command, and return its exit code."""
    args = _parser().parse_args(argv)
    try:
        code = run(args)
        sys.stdout.flush()  # here, not at exit: a reader gone is handled below
    except BrokenPipeError:
        # `python -m bot schema | head -1`: the reader has what it wanted. Quiet, as Unix tools
        # are; stdout goes to /dev/null so that the interpreter's last flush fails no more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


def command_names() -> list[str]:
    """Every command's name, in the order `python -m bot --help` lists them."""
    commands = Parser().add_subparsers()
    _add_commands(commands)
    return list(commands.choices)


def command_parser() -> Parser:
    """`python -m bot`'s whole parser (the docs' command reference is made from it)."""
    return _parser()


def _parser() -> Parser:
    parser = Parser(
        prog="python -m bot",
        description="Deliver notifications published on Redis as Telegram messages.",
        epilog="Settings come from the environment or a .env file; see docs/reference/settings.md.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"notify-bot {__version__}")
    parser.set_defaults(func=running.run_bot)  # no command: run the bot
    _add_commands(parser.add_subparsers(metavar="COMMAND"))
    return parser


def _add_commands(commands: Commands) -> None:
    for group in (running, sending, links, templates, tools):  # in the order `--help` lists them
        group.add_commands(commands)
