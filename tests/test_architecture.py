"""The shape of the code, as a user of it would notice: what a web app's import drags in, and
how many of our files a notification passes through on its way to Telegram."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import redis.asyncio

from bot.config.settings import Settings
from bot.testing import FakeTelegram
from tests.conftest import RunningBot
from tests.helpers import link_chat, plain_publish, report, wait_sent

PACKAGE = Path(__file__).resolve().parents[1] / "bot"
# 8 before rich notifications, + bot/telegram/compose.py, + bot/loops/turns.py (queues by priority)
MAX_FILES_ON_THE_PATH = 10


def test_importing_the_publisher_loads_no_telegram_and_leaves_the_environment_alone() -> None:
    code = (
        "import os, sys; before = dict(os.environ); import bot.publisher; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'httpx', "
        "'aiohttp', 'structlog', 'config'}); print(heavy, dict(os.environ) == before)"
    )
    env = {key: value for key, value in os.environ.items() if key != "PTB_TIMEDELTA"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[] True"


class PathTracer:
    """Records which of our files run in which task, from a publish until the sendMessage
    request is made: the task that accepted the notification (the listener's) and the one that
    delivered it (its lane), up to the sender's HTTP call."""

    def __init__(self) -> None:
        self.files: dict[asyncio.Task[Any], set[str]] = {}
        self.frames: dict[asyncio.Task[Any], int] = {}
        self.send_task: asyncio.Task[Any] | None = None
        self.accept_task: asyncio.Task[Any] | None = None
        # A coroutine resumed reports "call" again: a frame seen before is not a new call.
        self._seen: set[FrameType] = set()
        self._delivering: asyncio.Task[Any] | None = None

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call" or self.send_task is not None:
            return
        path = Path(frame.f_code.co_filename)
        if PACKAGE not in path.parents:
            return
        task = asyncio.current_task()
        if task is None:
            return
        name = str(path.relative_to(PACKAGE.parent))
        self.files.setdefault(task, set()).add(name)
        if frame in self._seen:
            return
        self._seen.add(frame)
        self.frames[task] = self.frames.get(task, 0) + 1
        code = frame.f_code.co_name
        if code == "accept" and name == "bot/pipeline/dispatcher.py":
            self.accept_task = task
        elif code == "deliver" and name == "bot/telegram/delivery.py":
            self._delivering = task
        elif code == "_call" and name == "bot/telegram/sender.py" and task == self._delivering:
            self.send_task = task
            self._seen.clear()

    def path(self) -> tuple[set[str], int]:
        """Files and frame entries of the task that received it and the one that sent it."""
        tasks = {self.accept_task, self.send_task} - {None}
        files = set().union(*(self.files.get(task, set()) for task in tasks if task is not None))
        frames = sum(self.frames.get(task, 0) for task in tasks if task is not None)
        return files, frames


async def test_a_plain_notification_reaches_send_message_through_few_of_our_files(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    tracer = PathTracer()
    sys.setprofile(tracer)
    try:
        plain_publish(
            settings.redis_url, settings.notification_channel, {"user_id": 42, "message": "hi"}
        )
        async with asyncio.timeout(10):
            while tracer.send_task is None:  # noqa: ASYNC110 - the tracer sees the send
                await asyncio.sleep(0.001)
    finally:
        sys.setprofile(None)
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "hi")
    files, frames = tracer.path()
    report(f"path to sendMessage: {len(files)} files, {frames} frame entries:", sorted(files))
    assert tracer.accept_task is not None
    assert "bot/sources/pubsub.py" in files
    assert "bot/telegram/sender.py" in files
    assert len(files) <= MAX_FILES_ON_THE_PATH, sorted(files)
