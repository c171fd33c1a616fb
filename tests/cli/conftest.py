"""`python -m bot COMMAND` run in this process: `main(argv)` with only the settings a test
gives, in a directory of its own, and what it printed."""

from __future__ import annotations

import functools
import gc
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.cli import environment, main
from bot.config.logging import configure_logging
from bot.config.settings import Settings
from bot.store.client import priority_streams
from bot.testing import FakeTelegram

# Every variable the settings read: a developer's own must not leak in.
ALL_SETTINGS = [name.upper() for name in Settings.model_fields] + ["DYNO"]


@dataclass(frozen=True)
class Ran:
    """What one command did: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class Cli:
    """Runs commands as `python -m bot` would, in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        """Run `python -m bot ARGS` with exactly the settings in `env` (and a .env file of the
        working directory, as a process would read)."""
        for name in ALL_SETTINGS:
            self._monkeypatch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            self._monkeypatch.setenv(name, value)
        self._capsys.readouterr()  # what the test printed before is not the command's
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse: --help, --version, a usage error
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        finally:
            # What the interpreter does at exit: logs buffered for a moment are written.
            for handler in logging.getLogger().handlers:
                handler.flush()
            # `run` freezes what is alive at its start for the process's life (bot/cli/running.py):
            # the tests' process lives on.
            gc.unfreeze()
        out = self._capsys.readouterr()
        return Ran(code, out.out, out.err)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """The command line in this process, in `tmp_path` (where a test may write a .env)."""
    monkeypatch.chdir(tmp_path)
    # The command's logging keeps its loggers for the process's life (a speed-up for the bot);
    # later tests in this process must be able to set their own.
    monkeypatch.setattr(
        environment,
        "configure_logging",
        functools.partial(configure_logging, cache_loggers=False),
    )
    return Cli(monkeypatch, capsys)


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def emulator_env(
    telegram: FakeTelegram, redis_url: str, channel: str, **extra: str
) -> dict[str, str]:
    """The settings of a bot on the emulator and the test's Redis and channel."""
    return {
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": redis_url,
        "NOTIFICATION_CHANNEL": channel,
        **extra,
    }


def stream_payloads(client: redis.Redis, stream: str) -> dict[str, list[tuple[str, Any]]]:
    """What each priority's stream holds, as (entry id, payload); empty streams left out."""
    held = {}
    streams = priority_streams(stream)
    for priority, name in zip(("high", "normal", "bulk"), streams, strict=True):
        entries: Any = client.xrange(name)
        if entries:
            held[priority] = [(i.decode(), json.loads(f[b"payload"])) for i, f in entries]
    return held
