"""Fan-outs: one notification to many users (user_ids, or every linked user), stored in Redis
when it arrives and run from there by whichever instance holds its lease, recipient by recipient
through the dispatcher, so that a restart or a failover carries on where it stopped."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.notification.parsing import Parsed, parse_notification
from bot.notification.schema import Notification
from bot.pipeline.envelope import Envelope, FanOutPart
from bot.store.fanouts import CANCELLING, DONE, FanOutStore
from bot.store.registry import ChatRegistry

log = structlog.get_logger(__name__)

FANOUT = "fanout"  # the source of a recipient's envelope
BATCH = 100  # recipients read at a time; the cursor is saved and a cancel seen once per batch
LEASE_TTL = 30.0  # a dead instance's fan-outs are taken over this long after it stopped
LOOK_EVERY = 5.0  # seconds between looks for fan-outs nobody runs (their instance died)
# A stored fan-out passed MESSAGE_MAX_CHARS when it arrived; that setting may be lower now.
STORED_MAX_CHARS = 10**6

Submit = Callable[[Envelope], Awaitable[None]]


class FanOuts:
    """Takes fan-out entries on (`start`, from the dispatcher) and runs every unfinished
    fan-out whose lease this instance holds (`run`). At most `window` of a fan-out's recipients
    are handed to the dispatcher and not yet settled; they go in as bulk unless the fan-out
    says otherwise, so single notifications pass them."""

    def __init__(
        self,
        store: FanOutStore,
        registry: ChatRegistry,
        submit: Submit,
        *,
        receipt_channel: str,
        window: int = 256,
        lease_ttl: float = LEASE_TTL,
        look_every: float = LOOK_EVERY,
        parse: Callable[[str], Awaitable[Parsed]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._registry = registry
        self._submit = submit
        self._receipts = receipt_channel
        self._window = window
        self._lease_ttl = lease_ttl
        self._look_every = min(look_every, lease_ttl / 3)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._held: set[str] = set()  # leases to give up at shutdown (release_leases)
        self._wake = asyncio.Event()
        self._backoff = Backoff("fanouts", base=0.5, cap=10.0)
        self.finished: dict[str, dict[str, object]] = {}  # summaries of this process's, by id
        # Of other instances holding leases, those that may be taken from (the leader's rule,
        # bot.cluster); None: leases are taken once they run out.
        self.may_take: Callable[[list[str]], Awaitable[set[str]]] | None = None
        # How a stored fan-out's message is parsed again (the dispatcher's parser keeps long
        # ones off the loop); one started here is not: `start` keeps what was parsed.
        self.parse = parse or _parse_on_loop
        self._parsed: dict[str, Parsed] = {}
        # What its recipients' ttl counts from: Redis's clock (the dispatcher decides by it).
        self.clock = clock

    async def start(self, envelope: Envelope) -> None:
        """Store a fan-out entry in Redis (acknowledging its source entry in the same
        transaction) and wake the runner. Stored once: the same id again is not a new one."""
        parsed = envelope.parsed
        assert parsed is not None  # noqa: S101
        notification = parsed.notification
        job = notification.id or f"fanout-{secrets.token_urlsafe(9)}"
        # Each user once, in the order first listed: a list with repeats (a web app's bug, or
        # an attacker's [7] * 10000) must not send one chat the same message over and over.
        recipients: list[int] = list(dict.fromkeys(notification.user_ids or []))
        if notification.audience == "all":
            recipients = [user_id async for user_id in self._registry.all_users()]
        payload = (
            envelope.payload if isinstance(envelope.payload, str) else envelope.payload.decode()
        )
        created = await self.store.create(
            job, payload, recipients, ack=envelope.ack, created_at=self.clock()
        )
        if created:
            self._parsed[job] = parsed
            log.info("fanout_started", id=job, recipients=len(recipients))
        self._wake.set()

    async def run(self) -> None:
        """Run fan-outs until cancelled: look for unfinished ones every few seconds (or when
        one starts here), lease each nobody runs, renew the leases held."""
        try:
            # OSError: the socket; Redis's connection and timeout errors are RedisErrors.
            await keep_connected(self._loop, self._backoff, (OSError, RedisError))
        finally:
            tasks = list(self._running.values())
            self._held.update(self._running)
            self._parsed.clear()  # the next run, here or elsewhere, parses what it resumes
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def release_leases(self) -> None:
        """Give up the leases of the fan-outs this instance ran, for another instance to take
        at once. Only after the dispatcher has drained: recipients handed to it and not yet
        settled would otherwise be sent by both (the next holder resumes at the cursor)."""
        for job in sorted(self._held):
            with contextlib.suppress(RedisError):
                await self.store.release(job)
        self._held.clear()

    async def _loop(self) -> None:
        while True:
            stop_if_cancelled()
            for job in await self.store.unfinished():
                task = self._running.get(job)
                holder = await self.store.lease(job, self._lease_ttl)
                if holder is not None and self.may_take is not None and task is None:
                    # Its instance died (or stepped down and settled): resume it now, not
                    # once the lease runs out.
                    taken = await self.may_take([holder])
                    if holder in taken:
                        holder = await self.store.lease(job, self._lease_ttl, taken)
                held = holder is None
                if task is None and held:
                    task = asyncio.create_task(self._run_job(job), name=f"fanout:{job}")
                    self._running[job] = task
                    task.add_done_callback(functools.partial(self._done, job))
                elif task is not None and not held:
                    log.error("fanout_lease_lost", id=job)
                    task.cancel()
            self._backoff.recovered()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._look_every)

    def _done(self, job: str, task: asyncio.Task[None]) -> None:
        self._running.pop(job, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("fanout_crashed", id=job, error=repr(task.exception()))
            self._wake.set()  # tried again at the next look

    async def _run_job(self, job: str) -> None:
        parsed = self._parsed.pop(job, None)
        stored = await self.store.load(job)
        if stored is None or stored.state == DONE:
            return
        template = parsed or await self.parse(stored.payload)
        prefix = _payload_prefix(template.notification)
        priority = template.notification.priority or "bulk"
        window = asyncio.Semaphore(self._window)
        outstanding: set[int] = set()
        settled_all = asyncio.Event()
        settled_all.set()
        cursor = stored.cursor
        state = stored.state
        if cursor:
            log.info("fanout_resumed", id=job, at=cursor, of=stored.total)
        index = cursor
        while index < stored.total and state != CANCELLING:
            batch = await self.store.recipients(job, index, BATCH)
            if not batch:
                break
            for user_id in batch:
                await window.acquire()
                outstanding.add(index)
                settled_all.clear()
                recipient = template.copy_with(
                    user_id=user_id, user_ids=None, audience=None, priority=priority
                )

                def release(number: int = index) -> None:
                    outstanding.discard(number)
                    window.release()
                    if not outstanding:
                        settled_all.set()

                envelope = Envelope(
                    prefix + str(user_id) + "}",
                    FANOUT,
                    parsed=recipient,
                    release=release,
                    published_at=stored.created_at,
                    part=FanOutPart(job, index),
                )
                await self._submit(envelope)
                index += 1
            # Every recipient before the oldest one still out is settled: resume there.
            state = await self.store.progress(job, min(outstanding, default=index))
        await settled_all.wait()
        await self.store.progress(job, index)
        cancelled = stored.total - index if state == CANCELLING else 0
        summary = await self.store.finish(job, self._receipts, cancelled)
        self.finished[job] = summary
        log.info("fanout_done", **summary)


async def _parse_on_loop(payload: str) -> Parsed:
    return parse_notification(payload, STORED_MAX_CHARS)


def _payload_prefix(template: Notification) -> str:
    """A recipient's payload without its user id and closing brace: what a failed one is
    dead-lettered with, made by concatenation (a JSON dump per recipient costs more)."""
    fields = template.model_dump(
        mode="json", exclude_defaults=True, exclude={"user_ids", "audience", "user_id"}
    )
    body = json.dumps(fields, ensure_ascii=False)[1:-1]
    return "{" + body + (", " if body else "") + '"user_id": '
