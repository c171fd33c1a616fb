"""Waiting for a condition without an event to await: look until it holds, or say what did not."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

# Seconds between two looks: short next to what the tests wait for, long next to a look.
EVERY = 0.01


def until(check: Callable[[], object], what: str = "the condition", within: float = 10) -> None:
    """Block until `check()` is truthy, in tests without an event loop (bot processes)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise _late(what, within)
        time.sleep(EVERY)


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    within: float = 10,
    what: str = "the condition",
) -> None:
    """Wait until `check()` (sync or async) is truthy, without blocking the event loop the bot
    under test runs in. A check that hangs counts against `within` too."""
    try:
        async with asyncio.timeout(within):
            while True:
                result = check()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(EVERY)
    except TimeoutError:
        raise _late(what, within) from None


def _late(what: str, within: float) -> TimeoutError:
    return TimeoutError(f"not within {within} s: {what}")
