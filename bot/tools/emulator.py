"""`python -m bot emulator`: the Bot API emulator on its own, to run a bot against by hand."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from bot.testing import FakeTelegram
from bot.tools.console import Console


def run_emulator(
    host: str, port: int, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    """Serve until Ctrl-C (or SIGTERM): console lines (see `help`) write to the bot as users,
    in private chats, groups or channels, and press buttons; what the bot sends, edits and
    deletes is printed."""
    with FakeTelegram(host=host, port=port) as telegram:
        console = Console(telegram, out)
        console.attach()
        console.say(
            f"Bot API emulator at {telegram.base_url}\n"
            f"  BOT_TOKEN={telegram.token}\n"
            f"  TELEGRAM_BASE_URL={telegram.base_url}\n"
            "Run a bot against it in another terminal, e.g.:\n"
            f"  BOT_TOKEN={telegram.token} TELEGRAM_BASE_URL={telegram.base_url} "
            f"{sys.executable} -m bot\n"
            "Type 'as 42 Ada' to write as user 42 (Ada), then messages ('/help'); "
            "'tap 1' presses a button; 'help' lists the console's commands; Ctrl-C stops."
        )
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                for line in stdin:
                    console.handle(line)
                threading.Event().wait()  # end of input: serve on until Ctrl-C
        finally:
            signal.signal(signal.SIGTERM, previous)
            console.detach()
    print("emulator stopped", file=out, flush=True)
    return 0


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
