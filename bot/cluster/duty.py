"""What the lock holder does: poll Telegram (polling mode), read the pub/sub channel and the
streams, run fan-outs. One poller per token, and one instance delivering: each user's order,
each chat's pace and Telegram's overall limit then hold however many instances run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.exceptions import RedisError
from telegram.ext import Updater

from bot.cluster.liveness import Heartbeat
from bot.loops.reconnect import Backoff, stop_if_cancelled
from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.handback import HandBack
from bot.sources.pubsub import RedisListener
from bot.telegram.updates import PollErrors, start_polling

log = structlog.get_logger(__name__)

CLEAR_EVERY = 0.1  # seconds between looks while waiting for the instance before to let go
FINISH_LISTENING_WITHIN = 2.0  # seconds for the listener to hand on what it was sent


@dataclass(kw_only=True)
class Duty:
    """The leader's work, started by `lead` and stopped when leadership ends."""

    updater: Updater
    poll_errors: PollErrors
    polling: bool
    dispatcher: Dispatcher
    heartbeat: Heartbeat
    hand_back: HandBack
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
        listening: asyncio.Task[None] | None = None
        cleared = False
        try:
            await self.heartbeat.lead()
            if self.listener is not None:
                self.listener.rearm()
                listening = asyncio.create_task(self.listener.run(), name="RedisListener")
                tasks.append(listening)
            if self.polling:
                await start_polling(self.updater, self.poll_errors)
            await self._until_clear()
            cleared = True
            self.dispatcher.release_hold()
            tasks.extend(asyncio.create_task(loop(), name="leader-duty") for loop in self.loops)
            if not tasks:
                await asyncio.Event().wait()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a source ended: only a crash ends one
        finally:
            # The streams and fan-outs stop at once; the listener then hands on what Redis has
            # sent it (a cancelled one would lose it).
            others = [task for task in tasks if task is not listening]
            for task in others:
                task.cancel()
            try:
                await asyncio.gather(*others, return_exceptions=True)
                if listening is not None and not listening.done():
                    await self._finish_listening(listening)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                try:
                    await self._step_down(cleared=cleared)
                finally:
                    self.heartbeat.stepped_down()

    async def _finish_listening(self, listening: asyncio.Task[None]) -> None:
        """Let the listener hand on what Redis has sent it: cancelled, the messages waiting in
        its socket (PUBLISH counted them as received) would be lost without a trace."""
        assert self.listener is not None  # noqa: S101
        await self.listener.finish(FINISH_LISTENING_WITHIN)
        await asyncio.wait({listening}, timeout=FINISH_LISTENING_WITHIN)

    async def _step_down(self, *, cleared: bool) -> None:
        if self.listener is not None:
            self.listener.subscribed.clear()
        # Stop polling before the lock is released or lost: two instances never poll at once.
        if self.updater.running:
            await self.updater.stop()
        if not cleared:
            # Never started: what was accepted meanwhile goes to the next leader, not beside it.
            await self.hand_back(self.dispatcher.take_held(), "the leader changed before it")
        elif self.dispatcher.paused:
            # What this instance holds is delivered and settled (the next leader waits for
            # it); a pause kept here would keep every later leader waiting.
            self.dispatcher.resume()
            log.warning("pause_lifted", reason="no longer the leader")
        # Else what was accepted as leader is delivered and settled; the next leader waits.

    async def _until_clear(self) -> None:
        """Wait until no live instance holds notifications (a dead one's are taken over)."""
        waited_for: set[str] = set()
        backoff = Backoff("takeover_check", base=CLEAR_EVERY, cap=1.0)
        while True:
            stop_if_cancelled()
            try:
                busy = {peer.name for peer in self.heartbeat.busy(await self.heartbeat.peers())}
            except RedisError as exc:
                await backoff.failed(exc)
                continue
            backoff.recovered()
            if not busy:
                if waited_for:
                    log.info("leader_took_over", after=sorted(waited_for))
                return
            if busy - waited_for:
                log.info("leader_waiting_for", instances=sorted(busy))
                waited_for |= busy
            await asyncio.sleep(CLEAR_EVERY)

    async def may_take(self, names: list[str]) -> set[str]:
        """Of `names` (stream consumers or fan-out lease holders), those this leader may take
        over: every process of that name dead, or settled (it stepped down and recorded what
        it had)."""
        peers = await self.heartbeat.peers()
        return {name for name in names if self.heartbeat.may_take(name, peers)}
