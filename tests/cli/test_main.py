"""The entry point: --version, --help on every command, and the bot when no command is given."""

from __future__ import annotations

import pytest

from bot import __version__
from bot.cli import command_names
from tests.cli.conftest import Cli


def test_version_prints_the_package_version(cli: Cli) -> None:
    result = cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"notify-bot {__version__}")


@pytest.mark.parametrize("command", command_names())
def test_every_command_has_its_help(cli: Cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: python -m bot {command} [-h]")
    assert result.stderr == ""


def test_no_command_runs_the_bot(cli: Cli) -> None:
    """`python -m bot` is `python -m bot run`: both need the token first."""
    bare, run = cli(), cli("run")
    assert bare == run
    assert (bare.returncode, bare.stderr) == (
        2,
        "config error: BOT_TOKEN: is required but not set\n",
    )
