"""Parsing payloads without stalling the event loop. markdown-it-py is pure Python: 4,000
characters of `![` cost it ~66 ms, linear in the length, and a thread would hold the GIL as
long, so every update and every renewal of the leader's lock would wait. Payloads over
ON_LOOP_BYTES are parsed in a worker process instead: what the loop pays is the pickling,
tens of microseconds."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from bot.notification.parsing import InvalidNotification, Parsed, parse_notification
from bot.notification.schema import REMIND_MIN_SECONDS
from bot.pipeline.templating import Templating

log = structlog.get_logger(__name__)

# The most a payload parsed on the loop can cost it: ~16 us a character in the worst Markdown
# measured, so about 4 ms. Most notifications are shorter and pay no hand-over.
ON_LOOP_BYTES = 256
RETRY_WORKER_AFTER = 60.0  # seconds in threads after the worker failed


class Parser:
    """Parses on the loop up to ON_LOOP_BYTES, beyond it in one worker process, started (by
    spawn: forking a process with an event loop and threads is unsafe) at the first such
    payload. One worker is enough: it only keeps hostile Markdown off the loop, and a flood of
    it then waits its turn in the worker while updates and small notifications go on. If the
    worker cannot start or dies, payloads are parsed in a thread until it is tried again."""

    def __init__(
        self,
        max_chars: int,
        templating: Templating | None = None,
        remind_min_seconds: int = REMIND_MIN_SECONDS,
    ) -> None:
        self.max_chars = max_chars
        self.remind_min_seconds = remind_min_seconds
        self.templating = templating
        self._pool: ProcessPoolExecutor | None = None
        self._retry_at = 0.0  # monotonic time before which a failed worker is not tried again

    async def parse(self, payload: bytes | str, max_chars: int | None = None) -> Parsed:
        """The notification in `payload`, parsed; raises InvalidNotification as
        parse_notification."""
        parsed = await self._parse(payload, max_chars)
        if parsed.notification.template is None:
            return parsed
        if self.templating is None:
            raise InvalidNotification("template: templates are off here (TEMPLATES_DIR)", payload)
        try:
            return self.templating.prepare(parsed)
        except ValueError as exc:
            raise InvalidNotification(str(exc), payload) from None

    async def _parse(self, payload: bytes | str, max_chars: int | None) -> Parsed:
        limit = self.max_chars if max_chars is None else max_chars
        if len(payload) <= ON_LOOP_BYTES:
            return parse_notification(payload, limit, self.remind_min_seconds)
        pool = self._worker()
        if pool is not None:
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(
                    pool, parse_notification, payload, limit, self.remind_min_seconds
                )
            except (BrokenProcessPool, OSError) as exc:
                self._failed(pool, exc)
        return await asyncio.to_thread(parse_notification, payload, limit, self.remind_min_seconds)

    def _worker(self) -> ProcessPoolExecutor | None:
        if self._pool is None and time.monotonic() >= self._retry_at:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def _failed(self, pool: ProcessPoolExecutor, exc: BaseException) -> None:
        # Killed (out of memory), or it could not start: spawn imports the main module again,
        # and a script that starts the bot without `if __name__ == "__main__":` fails there.
        if pool is not self._pool:
            return  # another parse saw it first and started over
        self.close()
        self._retry_at = time.monotonic() + RETRY_WORKER_AFTER
        log.error(
            "parser_worker_failed",
            error=str(exc) or type(exc).__name__,
            retry_in_seconds=RETRY_WORKER_AFTER,
        )

    def close(self) -> None:
        """Stop the worker, if one was started; a parse waiting for it gets BrokenProcessPool
        or is cancelled."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
