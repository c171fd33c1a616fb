"""What every bench measurement uses: a child process (the bot, the bare sender, the blog
loop) with its CPU and memory readable, its environment against the emulator and the bench's
Redis, and users linked to emulated chats."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import TextIO

import redis

from bot.store.chat_links import queue_link
from bot.store.chats import LinkedChat
from bot.testing import FakeTelegram

CHAT_BASE = 1_000_000  # chat id = CHAT_BASE + user id
LINK_CHUNK = 10_000
# Telegram's limits out of reach: what the pipeline itself can do. The per-chat rate is lifted
# with the burst: a burst of a million at 1/s would keep each chat's window for 11 days, and
# the pacer would remember every chat it ever sent to.
LIFTED = {
    "TELEGRAM_PAID_BROADCAST": "true",
    "TELEGRAM_MAX_PER_SECOND": "1000000",
    "TELEGRAM_CHAT_BURST": "1000000",
    "TELEGRAM_CHAT_PER_SECOND": "1000000",
}


class BotProcess:
    """A `python -m bot` (or the blog loop) child process, with its CPU and memory readable."""

    def __init__(self, args: list[str], env: dict[str, str], ready_marker: str) -> None:
        gc.collect()  # now, not in the middle of the measurement (see run_bench)
        # A folder of its own: the bot reads `.env` from where it runs, and the user's (with
        # their PORT, say) must not reach a bot of the bench's.
        self._home = tempfile.TemporaryDirectory(prefix="notify-bench-")
        started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *args],
            env=env,
            cwd=self._home.name,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        self._tail: list[str] = []

        def drain() -> None:
            assert self.process.stdout is not None  # noqa: S101
            for line in self.process.stdout:
                if not ready.is_set():
                    self._tail.append(line)
                    if ready_marker in line:
                        ready.set()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        if not ready.wait(30):
            self.stop()
            raise RuntimeError("the process did not become ready:\n" + "".join(self._tail[-20:]))
        self.ready_s = time.monotonic() - started

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None  # noqa: S101
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def cpu_seconds(self) -> float:
        fields = _proc(self.process.pid, "stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, name: str = "VmRSS") -> float:
        for line in _proc(self.process.pid, "status").splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, exit_wait: float = 0.0) -> None:
        """End the process; one that exits when its stdin closes (the bare sender, which then
        closes its connections) is given `exit_wait` seconds to, before SIGTERM."""
        assert self.process.stdin is not None  # noqa: S101
        self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(exit_wait)
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._drain.join(timeout=5)  # it reads to the end of the output, which has come
        if self.process.stdout is not None and not self._drain.is_alive():
            self.process.stdout.close()
        self._home.cleanup()


def _proc(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}") as file:
        return file.read()


def link_users(client: redis.Redis, telegram: FakeTelegram, users: int, *, first: int = 1) -> None:
    """Link users `first`..`users` to chats CHAT_BASE + user, in Redis and in the emulator."""
    for start in range(first, users + 1, LINK_CHUNK):
        chunk = range(start, min(start + LINK_CHUNK, users + 1))
        with client.pipeline(transaction=False) as pipe:
            for user in chunk:
                queue_link(pipe, user, (), LinkedChat(CHAT_BASE + user))  # what a link stores
            pipe.execute()
        for user in chunk:
            telegram.add_chat(CHAT_BASE + user)


def bot_env(telegram: FakeTelegram, url: str, channel: str, **extra: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return env | {
        "BOT_TOKEN": telegram.token,
        "TELEGRAM_BASE_URL": telegram.base_url,
        "REDIS_URL": url,
        "NOTIFICATION_CHANNEL": channel,
        "NOTIFICATION_STREAM": "",
        "LOG_FORMAT": "json",
        "RECEIPT_CHANNEL": "",
        **extra,
    }


class Progress:
    """Which part of the bench is running, on `stream` (stderr: the table goes to stdout). On a
    terminal, one line that counts the seconds; otherwise (a log, CI) a line per part when it
    ends. Nothing else: the bench brings no dependency for it."""

    def __init__(self, parts: int, stream: TextIO) -> None:
        self._parts = parts
        self._stream = stream
        self._live = stream.isatty()
        self._number = 0

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        self._number += 1
        label = f"bench [{self._number}/{self._parts}] {name}"
        started = time.monotonic()
        done = threading.Event()
        ticker = None
        if self._live:
            ticker = threading.Thread(target=self._tick, args=(label, started, done), daemon=True)
            ticker.start()
        try:
            yield
        finally:
            done.set()
            if ticker is not None:
                ticker.join()
            erase = "\r\x1b[K" if self._live else ""
            self._write(f"{erase}{label}: {time.monotonic() - started:.0f} s\n")

    def _tick(self, label: str, started: float, done: threading.Event) -> None:
        self._write(f"\r\x1b[K{label} ...")
        while not done.wait(1.0):
            self._write(f"\r\x1b[K{label} ... {time.monotonic() - started:.0f} s")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
