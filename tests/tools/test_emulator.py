"""`python -m bot emulator`: the Bot API emulator on its own, as a user runs it by hand."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from telegram import Bot


async def test_the_emulator_command_serves_a_bot_and_takes_user_messages(tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: ASYNC220 - started once; its pipes are read in threads
        [sys.executable, "-m", "bot", "emulator", "--port", "0"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        printed: dict[str, str] = {}
        while "TELEGRAM_BASE_URL" not in printed:
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "the emulator ended before printing its address"
            name, _, value = line.strip().partition("=")
            if name in {"BOT_TOKEN", "TELEGRAM_BASE_URL"}:
                printed[name] = value
        async with Bot(printed["BOT_TOKEN"], base_url=printed["TELEGRAM_BASE_URL"]) as bot:
            assert bot.username == "notify_demo_bot"
            process.stdin.write("42 /help\n")
            process.stdin.flush()
            updates = await bot.get_updates(timeout=5)
            assert [u.message.text for u in updates if u.message] == ["/help"]
            await bot.send_message(42, "hello back")
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(process.communicate, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "bot -> user 42: hello back" in out
    assert "Traceback" not in out + err
