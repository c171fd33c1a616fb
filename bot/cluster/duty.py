"""What the lock holder does: poll Telegram (polling mode) and read the pub/sub channel. One
poller per token and one reader per channel, whatever the number of instances."""

from __future__ import annotations

import asyncio

from telegram.ext import Updater

from bot.sources.pubsub import RedisListener
from bot.telegram.updates import PollErrors, start_polling


async def lead(
    updater: Updater,
    listener: RedisListener | None,
    poll_errors: PollErrors,
    *,
    polling: bool,
) -> None:
    """Lead until cancelled; re-raises a crash of the listener."""
    listening = asyncio.create_task(listener.run(), name="RedisListener") if listener else None
    try:
        if polling:
            await start_polling(updater, poll_errors)
        await (listening if listening is not None else asyncio.Event().wait())
    finally:
        if listening is not None:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            assert listener is not None  # noqa: S101
            listener.subscribed.clear()
        # Stop polling before the lock is released or lost, so two instances never poll at once.
        if updater.running:
            await updater.stop()
