"""Broadcasts: one message to every linked chat through the normal pipeline, with a progress
message for the admin that is edited as it goes."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import structlog
from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.notification import ADMIN, Envelope, Outcome
from bot.pipeline.dispatcher import Dispatcher
from bot.store.registry import ChatRegistry

log = structlog.get_logger(__name__)

PROGRESS_EVERY = 2.0  # seconds between edits of the progress message
IN_FLIGHT = 64  # broadcast notifications handed to the dispatcher and not yet settled


@dataclass
class Progress:
    total: int
    sent: int = 0
    failed: int = 0
    cancelled: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def remaining(self) -> int:
        return self.total - self.sent - self.failed

    def line(self) -> str:
        return f"{self.sent} sent, {self.failed} failed, {self.remaining} remaining of {self.total}"


class Broadcaster:
    """Runs at most one broadcast at a time, as a task it owns; `cancel` stops it and `close`
    (at shutdown) waits for it to end."""

    def __init__(
        self,
        bot: Bot,
        registry: ChatRegistry,
        dispatcher: Dispatcher,
        progress_every: float = PROGRESS_EVERY,
    ) -> None:
        self._bot = bot
        self.progress_every = progress_every
        self._registry = registry
        self._dispatcher = dispatcher
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._cancel_at_start = False  # /broadcast_cancel came while it was starting
        self.progress: Progress | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, text: str, admin_chat_id: int) -> bool:
        """Begin a broadcast of `text`; False if one is already running."""
        # Commands run concurrently: without the lock, two /broadcast could both see none
        # running while the first is still sending its progress message.
        async with self._starting:
            if self.running:
                return False
            self._cancel_at_start = False
            progress = Progress(total=await self._registry.linked_count())
            text_now = f"Broadcast: {progress.line()}"
            message = await self._bot.send_message(admin_chat_id, text_now)
            progress.cancelled = self._cancel_at_start
            self.progress = progress
            self._task = asyncio.create_task(
                self._run(text, progress, admin_chat_id, message.message_id), name="broadcast"
            )
        return True

    def cancel(self) -> bool:
        if self.running and self.progress is not None:
            self.progress.cancelled = True
            return True
        if self._starting.locked():
            # Its progress message is on its way (the admin may already see it): it starts
            # cancelled.
            self._cancel_at_start = True
            return True
        return False

    async def close(self, grace: float) -> None:
        """Stop submitting, give the broadcast `grace` seconds to report, then cancel it."""
        if self._task is None:
            return
        if self.progress is not None:
            self.progress.cancelled = True
        await asyncio.wait({self._task}, timeout=grace)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, text: str, progress: Progress, chat_id: int, message_id: int) -> None:
        reporter = asyncio.create_task(self._report(progress, chat_id, message_id))
        slots = asyncio.Semaphore(IN_FLIGHT)
        outstanding: set[asyncio.Future[Outcome]] = set()
        log.info("broadcast_started", recipients=progress.total)
        try:
            async for user_id, _chat in self._registry.all_chats():
                if progress.cancelled:
                    break
                await slots.acquire()
                settled: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
                settled.add_done_callback(lambda f: _count(progress, f, slots))
                settled.add_done_callback(outstanding.discard)
                outstanding.add(settled)
                payload = json.dumps({"user_id": user_id, "message": text})
                await self._dispatcher.accept(Envelope(payload, ADMIN, settled=settled))
            await asyncio.gather(*outstanding, return_exceptions=True)
        finally:
            progress.done.set()
            await asyncio.gather(reporter, return_exceptions=True)
            verb = "cancelled" if progress.cancelled else "finished"
            log.info(
                "broadcast_ended",
                outcome=verb,
                sent=progress.sent,
                failed=progress.failed,
                recipients=progress.total,
            )
            await self._edit(chat_id, message_id, f"Broadcast {verb}: {progress.line()}")

    async def _report(self, progress: Progress, chat_id: int, message_id: int) -> None:
        while not progress.done.is_set():
            try:
                await asyncio.wait_for(progress.done.wait(), self.progress_every)
            except TimeoutError:
                await self._edit(chat_id, message_id, f"Broadcast: {progress.line()}")

    async def _edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self._bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("broadcast_progress_not_shown", error=exc.message)
        except TelegramError as exc:
            log.warning("broadcast_progress_not_shown", error=exc.message)


def _count(progress: Progress, settled: asyncio.Future[Outcome], slots: asyncio.Semaphore) -> None:
    slots.release()
    if not settled.cancelled() and settled.exception() is None and settled.result() is Outcome.SENT:
        progress.sent += 1
    else:
        progress.failed += 1
