"""`python -m bot` as a real process, for what only a process shows: exit codes through the
interpreter, signals, a closed stdout, what gets imported, the working directory on sys.path,
child processes. Everything else about the commands is tested in process, in tests/cli/."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.publisher import Publisher
from bot.testing import FakeTelegram
from bot.tools.bench.goals import missed_goals
from tests.helpers import DEMO_FAST, plain_publish, token_of

BOT = [sys.executable, "-m", "bot"]


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def bot_env(**settings: str) -> dict[str, str]:
    """Only what the test sets, so a developer's own settings do not leak in."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "SYSTEMROOT") if key in os.environ}
    return env | settings


def emulator_env(
    telegram: FakeTelegram, redis_url: str, channel: str, **extra: str
) -> dict[str, str]:
    return bot_env(
        BOT_TOKEN=telegram.token,
        TELEGRAM_BASE_URL=telegram.base_url,
        REDIS_URL=redis_url,
        NOTIFICATION_CHANNEL=channel,
        **extra,
    )


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


def test_a_missing_token_stops_start_up_with_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(env=bot_env(), cwd=tmp_path)

    assert result.returncode == 2
    expected = "config error: BOT_TOKEN: is required but not set"
    assert result.stderr.strip().splitlines() == [expected]
    assert "Traceback" not in result.stderr + result.stdout


class Output:
    """Collects a stream's lines on a thread and signals when a line contains `marker`."""

    def __init__(self, stream: object, marker: str) -> None:
        self.lines: list[str] = []
        self.seen = threading.Event()
        self._marker = marker
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)
            if self._marker in line:
                self.seen.set()

    def join(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_bot_with_exit_0_and_the_token_never_appears(
    telegram: FakeTelegram,
    redis_url: str,
    channel: str,
    sync_redis: redis.Redis,
    tmp_path: Path,
    stop_signal: signal.Signals,
) -> None:
    """The whole process at DEBUG: deliver one notification, SIGTERM/SIGINT, exit 0 within 10 s;
    nothing printed contains the token, and stdout is one JSON object per line."""
    env = emulator_env(telegram, redis_url, channel, LOG_LEVEL="DEBUG", LOG_FORMAT="json")
    with subprocess.Popen(
        BOT, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        stdout = Output(process.stdout, '"event": "bot_ready"')
        stderr = Output(process.stderr, "\n")
        try:
            assert stdout.seen.wait(20), "no bot_ready line: " + "".join(stdout.lines[-20:])
            link = Publisher(sync_redis).create_link(42)  # the bot recorded its username
            telegram.user_says(9001, f"/start {token_of(link)}")
            telegram.wait_for_sent(chat_id=9001)
            assert plain_publish(redis_url, channel, {"user_id": 42, "message": "bye"}) == 1
            telegram.wait_for_sent(chat_id=9001, predicate=lambda m: m.text == "bye")

            process.send_signal(stop_signal)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
        out, err = stdout.join(), stderr.join()

    secret = telegram.token.split(":", 1)[1]
    assert telegram.token not in out + err
    assert secret not in out + err
    assert "[REDACTED]" in out  # httpx logged request URLs at DEBUG; they were redacted
    events = [json.loads(line) for line in out.splitlines()]
    assert {"bot_ready", "notification_sent", "bot_stopping", "bot_stopped"} <= {
        e["event"] for e in events
    }
    [stopped] = [e for e in events if e["event"] == "bot_stopped"]
    assert stopped["sent"] == 1


def test_the_interactive_demo_takes_chat_messages_from_stdin(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BOT, "demo", "--interactive"],
        env=bot_env(**DEMO_FAST),
        cwd=tmp_path,
        input="/help\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{sys.executable} -m bot publish 42" in result.stdout
    assert "bot -> Ada: I deliver notifications" in result.stdout


# Slow: every part of the bench with its processes, a minute of CPU on a busy machine; beside
# the other tests it would throw off those that measure time.
@pytest.mark.slow
def test_bench_runs_with_tiny_counts_and_prints_parsable_json(
    redis_url: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    """A smoke test: the command works end to end on the empty database it is given, and
    leaves it empty; timings are not asserted (see README). The user's `.env` (here with a
    PORT another process holds, as a running bot would) does not reach the bench's bots."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    (tmp_path / ".env").write_text(f"PORT={taken.getsockname()[1]}\nHTTP_HOST=127.0.0.1\n")
    result = subprocess.run(
        [
            *BOT,
            "bench",
            "--json",
            "--count",
            "40",
            "--users",
            "10",
            "--limited-count",
            "10",
            "--paid-count",
            "20",
            "--no-load",
            "--rate",
            "50",
            "--rate-count",
            "10",
            "--idle-seconds",
            "0.2",
            "--blog-count",
            "5",
            "--bursts",
            "1",
            "--latency-ms",
            "1",
            "--bulk-count",
            "100",
            "--high-count",
            "3",
            "--high-every",
            "0.1",
            "--fanout-count",
            "60",
            "--scheduled-count",
            "20",
            "--preferences-count",
            "200",  # enough CPU ticks (10 ms each) to measure in every burst
            "--templates-count",
            "200",
            "--redis-url",
            redis_url,
        ],
        env=bot_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    taken.close()
    report = json.loads(result.stdout)
    # Tiny counts miss goals (several instances' share of the cap, say): exit 1, each named.
    missed = missed_goals(report)
    assert result.returncode == (1 if missed else 0), result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("bench: goal")]
    assert said == [f"bench: goal missed: {goal}" for goal in missed]
    # Not a TTY: a line per part as it ends, with its time (it ran 5 m 43 s in silence).
    assert len(re.findall(r"^bench \[\d/9\] .+: \d+ s$", result.stderr, re.MULTILINE)) == 9
    assert report["bot"]["delivered"] == report["bot"]["published"] == 40
    # CPU figures count in clock ticks (10 ms): with these tiny counts they can round to 0.
    assert report["bot"]["rich_cpu_ms_per_msg"] is not None  # formatted with buttons, measured
    assert report["bare"]["delivered"] == 40  # the floor it is compared with
    assert report["bot"]["throughput_paid"] > 0
    assert report["blog"]["delivered"] == 5
    assert report["bot"]["flood_429s"] == 0
    assert set(report["bot"]["latency_ms"]) == {"p50", "p95", "p99"}
    lifecycle = report["lifecycle"]
    assert set(lifecycle["high_ms"]) == {"p50", "p99", "max"}  # all 3 high ones arrived
    assert lifecycle["recipients"] == 60  # the fan-out reached every linked user
    assert lifecycle["fanout_rate"] > 0
    assert lifecycle["fanout_redis_kb"] > 0  # its bookkeeping, read with MEMORY USAGE
    assert lifecycle["scheduled"] == 20
    assert lifecycle["scheduled_early"] == 0  # none sent before it was due
    assert report["preferences"]["with_ms"] is not None  # every notification arrived, both ways
    templates = report["templates"]  # rendered per reader, half in German, as sent as message
    assert (templates["german"], templates["same_as_plain"]) == (100, True)
    assert templates["templated_ms"] is not None
    instances = report["instances"]  # three bots, one stream: all delivered, in order
    assert instances["delivered"] == instances["published"] == 20
    assert (instances["flood_429s"], instances["users_out_of_order"]) == (0, 0)
    chats = report["chats"]
    assert chats["users"] == 60
    assert all(size > 0 for size in chats["keys"].values())  # each key measured
    # Set once every chat of every five-chat user got its message (0.0 seen in CI: ticks).
    assert chats["five_chats_ms"] is not None
    assert sync_redis.dbsize() == 0


def test_a_reader_that_stops_early_ends_a_command_quietly(tmp_path: Path) -> None:
    """`python -m bot schema | head -1` printed "error: BrokenPipeError" and exited 1."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the schema is written
    try:
        result = subprocess.run(
            [*BOT, "schema"],
            env=bot_env(),
            cwd=tmp_path,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_cli_runs_in_a_django_project_whose_settings_are_a_config_package(
    tmp_path: Path,
) -> None:
    """cookiecutter-django keeps its settings in a package named `config`: the distribution
    installed a top-level `config` too, and from such a project's root every `python -m bot`
    crashed (No module named 'config.logging'). One top-level package now, `bot`."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "__init__.py").write_text("")
    (tmp_path / "config" / "settings.py").write_text("DJANGO = True\n")
    for args in (["schema"], ["publish", "42", "hi", "--deliver-at", "60"]):
        result = subprocess.run(
            [*BOT, *args],
            env=bot_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert "ModuleNotFoundError" not in result.stderr
        assert result.returncode in (0, 2), result.stderr
    both = "import config.settings, bot.config.settings; print(config.settings.DJANGO)"
    result = subprocess.run(
        [sys.executable, "-c", both],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "True"), result.stderr


def test_publish_enqueue_help_and_version_import_neither_telegram_nor_the_runtime(
    redis_url: str, channel: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    """A web app's cron job or a script's loop runs `publish` often: importing the bot would be
    half a second of each (see LAZY in bot/cli/__init__.py)."""
    code = (
        "import json, sys\n"
        "from bot.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        assert main(argv) == 0, argv\n"
        "    except SystemExit as exit_:\n"
        "        assert exit_.code == 0, argv\n"
        "heavy = ('telegram', 'bot.telegram', 'bot.runtime', 'bot.app', 'bot.tools.demo')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)\n"
    )
    commands = [["--help"], ["--version"], ["publish", "42", "hi"], ["enqueue", "42", "hi"]]
    env = bot_env(REDIS_URL=redis_url, NOTIFICATION_STREAM=f"{channel}-stream")
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(commands)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "[]\n")
    entries: Any = sync_redis.xrange(f"{channel}-stream")
    assert len(entries) == 2  # the commands did run
