"""The bot under test, run in this event loop or as `python -m bot` processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis

from bot import app, runtime
from bot.cluster.leader import LEADER_KEY
from bot.config.settings import Settings
from bot.testing import FakeTelegram
from tests.waiting import until


@dataclass
class RunningBot:
    bot: app.Bot
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=15)


async def start_bot(settings: Settings, within: float = 15) -> RunningBot:
    """Run the whole bot in this event loop and return once it is ready."""
    bot = app.build(settings)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.serve(bot, stop, ready))
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({task, ready_wait}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    ready_wait.cancel()
    if task.done():
        task.result()  # surfaces the start-up error
    assert ready.is_set(), f"the bot did not become ready within {within} s"
    return RunningBot(bot, stop, task)


def process_env(
    telegram: FakeTelegram, redis_url: str, channel: str, **extra: str
) -> dict[str, str]:
    """The environment of a `python -m bot` process against the emulator and the test Redis:
    `channel` for pub/sub, `<channel>-stream` for the stream, JSON logs; as the `settings`
    fixture, no pacing per chat unless `extra` asks for Telegram's (TELEGRAM_CHAT_BURST=3)."""
    return {
        "PATH": os.environ["PATH"],
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": redis_url,
        "NOTIFICATION_CHANNEL": channel,
        "NOTIFICATION_STREAM": f"{channel}-stream",
        "LOG_FORMAT": "json",
        "TELEGRAM_CHAT_BURST": "1000",
        **extra,
    }


class BotProcess:
    """One `python -m bot` process with `env`, run in `directory`, its JSON log in a file
    there. `named`: its STREAM_CONSUMER is `name`; otherwise it makes one up (host-pid), as
    under systemd or honcho."""

    def __init__(
        self, name: str, env: dict[str, str], directory: Path, *, named: bool = True
    ) -> None:
        self.name = name
        self.log = _new_file(directory, name)
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                env=env | ({"STREAM_CONSUMER": name} if named else {}),
                cwd=directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own, for `kill`
            )
        # The name it goes by in Redis (the leader lock, the stream's consumers).
        self.identity = name if named else f"{socket.gethostname()}-{self.process.pid}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text()

    def events(self) -> list[dict[str, object]]:
        lines = self.output().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def wait_ready(self, within: float = 30) -> None:
        until(lambda: self.logged("bot_ready"), f"{self.name} ready", within)

    def kill(self) -> float:
        """SIGKILL, as a platform's last word ends a dyno: the bot and the processes it started
        (its parsing workers, which would outlive it); returns the time.time() of the signal (a
        send Telegram took after it is not this process's)."""
        if self.process.returncode is None:  # not reaped: its pid still names its group
            with contextlib.suppress(ProcessLookupError):  # all gone already
                os.killpg(self.process.pid, signal.SIGKILL)
        killed_at = time.time()
        self.process.wait(10)
        return killed_at

    def terminate(self) -> None:
        """SIGTERM, as a platform stops it (see `wait`)."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, within: float = 15) -> int:
        """Its exit code. Still running after `within` s, it is killed and the test fails."""
        try:
            return self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"{self.name} still ran {within} s later (killed)") from None

    def stop(self, within: float = 15) -> int:
        """SIGTERM and its exit code."""
        self.terminate()
        return self.wait(within)


def stop_all(processes: Iterable[BotProcess], within: float = 15) -> list[int]:
    """SIGTERM to each at once (they drain side by side); their exit codes."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    return [process.wait(within) for process in processes]


def kill_left(processes: Iterable[BotProcess | None]) -> None:
    """SIGKILL what a test leaves running (it failed before stopping them)."""
    for process in processes:
        if process is not None:
            process.kill()


def leader(client: redis.Redis, token: str) -> str | None:
    """The identity of the process holding the leader lock of the bot with `token`; None while
    nobody does (one GET: the lock can expire between two calls)."""
    value = client.get(LEADER_KEY.format(bot_id=token.split(":", maxsplit=1)[0]))
    if value is None:
        return None
    assert isinstance(value, bytes)
    return value.decode().rsplit(":", 1)[0]


def _new_file(directory: Path, name: str) -> Path:
    """`<name>.log` in `directory`, or `<name>.2.log`... for a process started again."""
    path, again = directory / f"{name}.log", 1
    while path.exists():
        again += 1
        path = directory / f"{name}.{again}.log"
    return path
