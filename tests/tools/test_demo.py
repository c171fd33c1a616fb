"""The demo never touches a Redis the user did not give it for that purpose, and stops cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from bot.tools.redis_server import RedisServer
from tests.helpers import DEMO_FAST, store_links

BOT = [sys.executable, "-m", "bot"]


def snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key with its serialised value."""
    return {key: client.dump(key) for key in client.scan_iter()}


def fill(client: redis.Redis) -> None:
    """What a user's real database holds: links, waiting stream entries, counters."""
    store_links(client, {42: 555})
    client.hset("notify:stats", "sent", "7")
    client.xgroup_create("notifications", "notify-bot", id="0", mkstream=True)
    for n in range(3):
        client.xadd("notifications", {"payload": f'{{"user_id": 42, "message": "real {n}"}}'})


class Published:
    """Everything published on the server, on any channel, while it runs."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call,unused-ignore]
        self._pubsub.psubscribe("*")
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "pmessage":
                self.messages.append(message["data"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()
        self._client.close()


def run_bot(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOT, *args],
        env={"PATH": "/usr/bin:/bin", **DEMO_FAST},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_demo_leaves_the_redis_in_env_untouched(own_redis: RedisServer, tmp_path: Path) -> None:
    """README step 2 puts REDIS_URL in .env; the demo runs on its embedded Redis all the same:
    every key unchanged, nothing published on that server."""
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    fill(client)
    before = snapshot(client)
    (tmp_path / ".env").write_text(f"REDIS_URL={own_redis.url}\n")
    published = Published(own_redis.url)
    try:
        result = run_bot("demo", cwd=tmp_path)
    finally:
        published.close()
    assert result.returncode == 0, result.stderr
    assert "(embedded fakeredis)" in result.stdout
    # The story's rich part: formatted, with buttons; the tap reaches the web app.
    assert "(bold: 'Order #17', text_link: 'Track it' -> https://" in result.stdout
    assert "(a toast) ✓ Received it" in result.stdout
    assert "-> 'order-17:received' from user 42 (notification order-17" in result.stdout
    # One notification updated in place: two edits of the same message, which ends delivered.
    packed = re.search(r"message (\d+): Order #18: packed", result.stdout)
    assert packed is not None
    shown = f"message {packed[1]} now reads: Order #18:"
    assert f"{shown} shipped   [edit 1, same message]" in result.stdout
    assert f"{shown} delivered   [edit 2, same message]" in result.stdout
    assert snapshot(client) == before
    assert published.messages == []
    client.close()


def test_the_demo_refuses_a_database_with_data_and_cleans_an_empty_one(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    fill(client)
    before = snapshot(client)
    refused = run_bot("demo", "--redis-url", own_redis.url, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: redis://127.0.0.1:")
    assert f"holds {len(before)} keys" in refused.stderr
    assert snapshot(client) == before

    empty = own_redis.url.rsplit("/", 1)[0] + "/3"
    used = run_bot("demo", "--redis-url", empty, cwd=tmp_path)
    assert used.returncode == 0, used.stderr
    assert "(from --redis-url, emptied after)" in used.stdout
    assert redis.Redis.from_url(empty).dbsize() == 0
    assert snapshot(client) == before
    client.close()


def test_the_bench_refuses_a_database_with_data(own_redis: RedisServer, tmp_path: Path) -> None:
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    fill(client)
    before = snapshot(client)
    result = run_bot("bench", "--redis-url", own_redis.url, "--count", "10", cwd=tmp_path)
    assert result.returncode == 2
    assert "add --yes-use-it" in result.stderr
    assert snapshot(client) == before
    client.close()


def test_ctrl_c_ends_the_interactive_demo_at_once_and_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*BOT, "demo", "--interactive"],
        env={"PATH": "/usr/bin:/bin", **DEMO_FAST},
        cwd=tmp_path,
        stdin=subprocess.PIPE,  # kept open: nobody presses Enter
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if line.startswith("Interactive:"):
            break
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert time.monotonic() - started < 5
    assert "Traceback" not in out + err
    assert "Now for real:" in out
