"""`python -m bot emulator`: the Bot API emulator on its own, to run a bot against by hand."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from bot.testing import FakeTelegram, SentMessage


def run_emulator(
    host: str, port: int, *, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    """Serve until Ctrl-C (or SIGTERM): lines typed as '<user id> <text>' become messages
    from that user; what the bot sends is printed."""
    with FakeTelegram(host=host, port=port) as telegram:
        telegram.on_sent = lambda message: _print_sent(message, out)
        print(
            f"Bot API emulator at {telegram.base_url}\n"
            f"  BOT_TOKEN={telegram.token}\n"
            f"  TELEGRAM_BASE_URL={telegram.base_url}\n"
            "Run a bot against it in another terminal, e.g.:\n"
            f"  BOT_TOKEN={telegram.token} TELEGRAM_BASE_URL={telegram.base_url} "
            f"{sys.executable} -m bot\n"
            "Type '<user id> <text>' and Enter to write to the bot as that user "
            "(e.g. '42 /help'); Ctrl-C stops.",
            file=out,
            flush=True,
        )
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                for line in stdin:
                    _user_says(telegram, line, out)
                threading.Event().wait()  # end of input: serve on until Ctrl-C
        finally:
            signal.signal(signal.SIGTERM, previous)
    print("emulator stopped", file=out, flush=True)
    return 0


def _user_says(telegram: FakeTelegram, line: str, out: TextIO) -> None:
    user, _, text = line.strip().partition(" ")
    if not line.strip():
        return
    if not user.lstrip("-").isdigit() or not text:
        print("type '<user id> <text>', e.g. '42 /start'", file=out, flush=True)
        return
    telegram.user_says(int(user), text)
    print(f"user {user} -> bot: {text}", file=out, flush=True)


def _print_sent(message: SentMessage, out: TextIO) -> None:
    print(f"bot -> {message.chat_id}: {message.text}", file=out, flush=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
