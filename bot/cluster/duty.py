"""What the lock holder does: poll Telegram (polling mode), read the pub/sub channel and the
streams, run fan-outs. One poller per token, and one instance delivering: each user's order,
each chat's pace and Telegram's overall limit then hold however many instances run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.exceptions import RedisError
from telegram.ext import Updater

from bot.cluster.liveness import Heartbeat
from bot.pipeline.dispatcher import Dispatcher
from bot.sources.pubsub import RedisListener
from bot.telegram.updates import PollErrors, start_polling

log = structlog.get_logger(__name__)

CLEAR_EVERY = 0.1  # seconds between looks while waiting for the instance before to let go


@dataclass(kw_only=True)
class Duty:
    """The leader's work, started by `lead` and stopped when leadership ends."""

    updater: Updater
    poll_errors: PollErrors
    polling: bool
    dispatcher: Dispatcher
    heartbeat: Heartbeat
    listener: RedisListener | None = None
    # Long-lived loops that run only while leading (the stream consumers, the fan-out runner).
    loops: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    async def lead(self) -> None:
        """Lead until cancelled; re-raises a crash of any source.

        Pub/sub is subscribed and Telegram polled at once (a raw PUBLISH to nobody is lost;
        updates need an answer), but nothing is delivered and no stream read until every live
        instance has settled what it still holds from its own time as leader: the two would
        otherwise send to one chat side by side and out of order."""
        self.dispatcher.hold()
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.listener is not None:
                tasks.append(asyncio.create_task(self.listener.run(), name="RedisListener"))
            if self.polling:
                await start_polling(self.updater, self.poll_errors)
            await self._until_clear()
            self.dispatcher.release_hold()
            tasks.extend(asyncio.create_task(loop(), name="leader-duty") for loop in self.loops)
            if not tasks:
                await asyncio.Event().wait()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a source ended: only a crash ends one
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # What was accepted as leader is delivered and settled; the next leader waits.
            self.dispatcher.release_hold()
            if self.listener is not None:
                self.listener.subscribed.clear()
            # Stop polling before the lock is released or lost: two instances never poll at once.
            if self.updater.running:
                await self.updater.stop()

    async def _until_clear(self) -> None:
        """Wait until no live instance holds notifications (a dead one's are taken over)."""
        waited_for: set[str] = set()
        while True:
            peers = await self.heartbeat.peers()
            busy = {
                peer.name
                for peer in peers.values()
                if peer.holding > 0 and not self.heartbeat.dead(peer)
            }
            if not busy:
                if waited_for:
                    log.info("leader_took_over", after=sorted(waited_for))
                return
            if busy - waited_for:
                log.info("leader_waiting_for", instances=sorted(busy))
                waited_for |= busy
            await asyncio.sleep(CLEAR_EVERY)

    async def may_take(self, names: list[str]) -> set[str]:
        """Of `names` (stream consumers holding entries), those this leader may take over: dead
        instances', and live ones' that hold nothing (they stepped down and settled)."""
        peers = await self.heartbeat.peers()
        with contextlib.suppress(RedisError):
            await self.heartbeat.forget_dead(peers)
        taken = set()
        for name in names:
            peer = peers.get(name)
            if self.heartbeat.dead(peer) or (peer is not None and peer.holding == 0):
                taken.add(name)
        return taken
