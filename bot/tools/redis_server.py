"""A redis-server process of our own on a free port, which its owner may pause, kill, restart."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

# Seconds a starting redis-server has to answer PING (it takes milliseconds when idle).
START_WITHIN = 10.0


def installed() -> str | None:
    """The redis-server binary on PATH, or None when there is none."""
    return shutil.which("redis-server")


class RedisServer:
    """A redis-server process keeping its files in `directory`, on a free loopback port or
    (`unix`) on a unix socket only. `durable`: it writes an append-only file, synced at every
    write, so what it held survives a SIGKILL and a `start` again, as on a real server;
    otherwise it keeps nothing on disk. The port stays the same across restarts."""

    def __init__(self, directory: Path, *, durable: bool = False, unix: bool = False) -> None:
        binary = installed()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (not on PATH)")
        self._binary = binary
        self._directory = directory
        self._durable = durable
        self._socket = directory / "redis.sock" if unix else None
        if self._socket is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            self.url = f"redis://127.0.0.1:{self.port}/0"
        else:
            self.port = 0  # no TCP at all
            self.url = f"unix://{self._socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again) and return once it answers PING."""
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self._durable
            else ["--appendonly", "no"]
        )
        unix = ["--unixsocket", str(self._socket)] if self._socket is not None else []
        self._process = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH
            [
                self._binary,
                *("--bind", "127.0.0.1", "--port", str(self.port), "--save", ""),
                *persistence,
                *("--dir", str(self._directory)),
                *unix,
            ],
            cwd=self._directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_up()

    @property
    def running(self) -> bool:
        return self._process is not None

    def pause(self) -> None:
        """Stop answering without closing a connection (SIGSTOP), until `resume`."""
        self._running().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._running().send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash would end it (a durable one keeps what it had written)."""
        process = self._running()
        process.send_signal(signal.SIGCONT)  # a paused one cannot die otherwise
        process.kill()
        process.wait()
        self._process = None

    def stop(self) -> None:
        """End it as an operator would (SIGTERM), if it runs."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGCONT)
        self._process.terminate()
        self._process.wait(10)
        self._process = None

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process

    def _wait_until_up(self) -> None:
        process = self._running()
        client = redis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + START_WITHIN
            while not _answers(client):
                if process.poll() is not None:
                    self._process = None
                    raise RuntimeError(f"redis-server exited at start ({self.url} taken?)")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer within {START_WITHIN} s")
                time.sleep(0.01)
        finally:
            client.close()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
