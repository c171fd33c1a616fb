"""Broadcasts: the admin's /broadcast is a fan-out to every linked user (bulk priority), stored in
Redis like any other, so it survives a restart; a progress message for the admin is edited as
it goes."""

from __future__ import annotations

import asyncio
import json
import time

import structlog
from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.notification.parsing import parse_notification
from bot.pipeline.envelope import ADMIN, Envelope
from bot.pipeline.fanout import FanOuts
from bot.store.fanouts import CANCELLING, DONE, FanOutStore, Job
from bot.store.registry import ChatRegistry

log = structlog.get_logger(__name__)

PROGRESS_EVERY = 2.0  # seconds between edits of the progress message
PREFIX = "broadcast-"  # the fan-out ids of broadcasts


def line(job: Job) -> str:
    counts = job.counts
    failed = counts["failed"] + counts["skipped"]
    remaining = max(job.total - counts["sent"] - failed, 0)
    return f"{counts['sent']} sent, {failed} failed, {remaining} remaining of {job.total}"


class Broadcaster:
    """Starts at most one broadcast at a time and reports its progress to the admin who
    started it, as a task it owns. The broadcast itself runs as a fan-out."""

    def __init__(
        self,
        bot: Bot,
        fanouts: FanOuts,
        store: FanOutStore,
        registry: ChatRegistry,
        progress_every: float = PROGRESS_EVERY,
    ) -> None:
        self._bot = bot
        self._registry = registry
        self._cancel_at_start = False  # /broadcast_cancel came while it was starting
        self._fanouts = fanouts
        self._store = store
        self.progress_every = progress_every
        self._reporter: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def running(self) -> str | None:
        """The id of the broadcast not finished yet, if any (started here or elsewhere)."""
        for job in await self._store.unfinished():
            if job.startswith(PREFIX):
                return job
        return None

    async def start(self, text: str, admin_chat_id: int) -> bool:
        """Begin a broadcast of `text`; False if one is already running."""
        # Commands run concurrently: without the lock, two /broadcast could both see none.
        async with self._starting:
            if await self.running() is not None:
                return False
            self._cancel_at_start = False
            total = await self._registry.linked_count()
            message = await self._bot.send_message(
                admin_chat_id, f"Broadcast: 0 sent, 0 failed, {total} remaining of {total}"
            )
            if self._cancel_at_start:  # the admin saw the message and cancelled at once
                text_now = f"Broadcast cancelled: 0 sent, 0 failed, {total} remaining of {total}"
                await self._edit(admin_chat_id, message.message_id, text_now)
                return True
            job = f"{PREFIX}{int(time.time() * 1000)}"
            payload = json.dumps({"audience": "all", "message": text, "id": job})
            parsed = parse_notification(payload)
            await self._fanouts.start(Envelope(payload, ADMIN, parsed=parsed))
            log.info("broadcast_started", id=job, recipients=total)
            if self._cancel_at_start:  # cancelled while the fan-out was being stored
                await self._store.cancel(job)
            await self._close_reporter()
            self._reporter = asyncio.create_task(
                self._report(job, admin_chat_id, message.message_id), name="broadcast-progress"
            )
        return True

    async def cancel(self) -> bool:
        """Cancel the running broadcast; False if none runs."""
        if self._starting.locked():
            # Its progress message is on its way (the admin may see it already): it stops
            # before it sends anything.
            self._cancel_at_start = True
            return True
        job = await self.running()
        return job is not None and await self._store.cancel(job)

    async def close(self) -> None:
        """Stop reporting (at shutdown); the fan-out itself carries on from Redis."""
        await self._close_reporter()

    async def _close_reporter(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
            self._reporter = None

    async def _report(self, job: str, chat_id: int, message_id: int) -> None:
        shown = ""
        while True:
            await asyncio.sleep(self.progress_every)
            stored = await self._store.load(job)
            if stored is None:
                return
            text = f"Broadcast: {line(stored)}"
            if stored.state == DONE:
                verb = "cancelled" if stored.counts["cancelled"] else "finished"
                text = f"Broadcast {verb}: {line(stored)}"
            elif stored.state == CANCELLING:
                text = f"Broadcast cancelling: {line(stored)}"
            if text != shown:
                await self._edit(chat_id, message_id, text)
                shown = text
            if stored.state == DONE:
                log.info("broadcast_ended", id=job, **stored.counts)
                return

    async def _edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("broadcast_progress_not_shown", error=exc.message)
        except TelegramError as exc:
            log.warning("broadcast_progress_not_shown", error=exc.message)
