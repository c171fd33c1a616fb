"""What every command is built on: its parser's class, the exit codes, errors as one line."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from redis.exceptions import RedisError

from bot.config.settings import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

# What `set_defaults(func=...)` names: a command's handler, from parsed flags to an exit code.
Command: TypeAlias = Callable[[argparse.Namespace], int]

# The errors `run` reports as one line (a broken pipe: quietly), whichever command raised them.
REPORTED = (ConfigError, ValueError, RedisError, BrokenPipeError)


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error (--help has the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# What a group of commands adds its commands to. A string: argparse's class is generic to type
# checkers only.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def run(args: argparse.Namespace) -> int:
    """Run the command that `args` names and return its exit code; an error becomes one line
    on stderr (with its traceback too after --debug)."""
    command: Command = args.func
    try:
        return command(args)
    except ConfigError as exc:
        return fail(f"config error: {exc}", EXIT_USAGE)
    except ValueError as exc:  # a notification the bot would refuse
        return fail(f"error: {exc}", EXIT_USAGE)
    except RedisError as exc:
        return fail(f"error: Redis: {exc}", debug=args.debug)
    except BrokenPipeError:
        raise  # the reader of our output left: main ends quietly
    except Exception as exc:  # noqa: BLE001 - a bug too is one line, naming its type
        return fail(f"error: {type(exc).__name__}: {exc}", debug=args.debug)


def fail(message: str, code: int = EXIT_FAILURE, *, debug: bool = False) -> int:
    """Print `message` as the command's one line on stderr and return `code`."""
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code
