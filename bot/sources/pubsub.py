"""Redis side: subscribe to the notification channel, hand payloads on, reconnect when cut off."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.pipeline.envelope import PUBSUB, Envelope
from bot.sources.presence import presence_channel
from bot.store.client import CONNECTION_ERRORS
from bot.store.deployment import MARK_FIELD, read_mark

log = structlog.get_logger(__name__)

Submit = Callable[[Envelope], Awaitable[None]]

# A payload that names a deployment holds this. Inside a JSON string a quote is escaped, so
# only a key (or a string value "deployment") matches: unmarked payloads pay one byte search.
_MARKED = f'"{MARK_FIELD}"'.encode()
# The mark itself, without parsing the JSON (a JSON encoder may escape "/" as "\/").
_MARK_VALUE = re.compile(rb'"' + MARK_FIELD.encode() + rb'"\s*:\s*"((?:[^"\\]|\\/)*)"')


class ConnectionSilent(RedisConnectionError):
    """Redis did not answer a PING on an idle subscription: the connection is half-open."""


class RedisListener:
    """Subscribes to one channel and submits each message's raw bytes as an Envelope.

    Channels are server-wide: bots on other databases of the server hear the same channel
    name. A payload marked for another deployment (`"deployment": "<bot id>/<db>"`, added by
    the publisher) is counted in `foreign`, logged and dropped; an unmarked one is submitted.
    This deployment's mark is `deployment`, or read from its database (`notify:bot_id`, the
    bot writes it at start) at each connection: unknown, nothing is dropped. With a mark, it
    also subscribes to its presence channel, for other deployments to see it.

    Blocks on the socket while idle (no polling). A silent connection is probed with PING after
    `idle_ping_after` seconds and dropped if no reply comes within `pong_timeout`. On any
    connection error it reconnects with backoff (`keep_connected`), forever, until cancelled.
    The backoff is capped at `backoff_max` (1 s) so that delivery resumes within about a second
    of Redis coming back: pub/sub keeps nothing, so every second down is lost messages.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        channel: str,
        submit: Submit,
        *,
        idle_ping_after: float = 30.0,
        pong_timeout: float = 5.0,
        backoff_base: float = 0.5,
        backoff_max: float = 1.0,
        on_reconnect: Callable[[], None] | None = None,
        deployment: str | None = None,
        on_foreign: Callable[[], None] | None = None,
    ) -> None:
        self._redis = client
        self._on_reconnect = on_reconnect
        self._on_foreign = on_foreign
        self._channel = channel
        self._channel_key = channel.encode()  # how replies name it (the bot's client: bytes)
        self._given_mark = deployment
        self.mark = deployment  # this deployment's, once known
        self.foreign = 0  # notifications dropped: marked for another deployment
        self._submit = submit
        self._idle_ping_after = idle_ping_after
        self._pong_timeout = pong_timeout
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._backoff = self._new_backoff()
        self.subscribed = asyncio.Event()
        self._pubsub: PubSub | None = None  # this session's, while subscribed
        self._finishing = False

    def _new_backoff(self) -> Backoff:
        return Backoff(
            "redis",
            base=self._backoff_base,
            cap=self._backoff_max,
            on_recovered=self._on_reconnect,
            channel=self._channel,
        )

    async def run(self) -> None:
        """Listen until cancelled, or until `finish` has handed on the last message. Run again
        for each term as leader: an outage that ended the last term is not this one's, so the
        count of failures starts afresh."""
        self._backoff = self._new_backoff()
        await keep_connected(self._session, self._backoff, CONNECTION_ERRORS)

    def rearm(self) -> None:
        """Before a new term's `run` is started: a `finish` of the last term no longer holds.
        (Here, not in `run`: a finish asked for before that task's first step must hold.)"""
        self._finishing = False

    async def finish(self, within: float) -> None:
        """Stop listening without dropping what Redis has already sent (a leader stepping
        down: cancelled, the messages in its socket were lost). Unsubscribes; `run` hands on
        every message that came before the confirmation, then returns. Redis delivers a
        channel's messages in order, so none can come after it."""
        self._finishing = True
        pubsub = self._pubsub
        if pubsub is None:
            return
        with contextlib.suppress(*CONNECTION_ERRORS, TimeoutError):
            await asyncio.wait_for(pubsub.unsubscribe(), within)

    async def _session(self) -> None:
        try:
            async with self._redis.pubsub() as pubsub:
                self.mark = self._given_mark or await read_mark(self._redis)
                extra = [] if self.mark is None else [presence_channel(self._channel, self.mark)]
                await pubsub.subscribe(self._channel, *extra)
                self._pubsub = pubsub
                try:
                    if self._finishing:  # asked before the subscription was there
                        await pubsub.unsubscribe()
                    await self._consume(pubsub)
                finally:
                    self._pubsub = None
        except CONNECTION_ERRORS:
            self.subscribed.clear()
            raise

    async def _consume(self, pubsub: PubSub) -> None:
        last_heard = time.monotonic()
        probing = False
        while True:
            stop_if_cancelled()
            deadline = last_heard + self._idle_ping_after + (self._pong_timeout if probing else 0)
            timeout = max(deadline - time.monotonic(), 0.01)
            message = await pubsub.get_message(timeout=timeout)
            if message is not None:
                last_heard = time.monotonic()
                probing = False
                if await self._handle(message):
                    return  # finished: the last message before the unsubscribe is handed on
            elif time.monotonic() >= deadline:
                # A None can also be a filtered health-check reply, hence the deadline check.
                if probing:
                    raise ConnectionSilent(f"no reply to PING within {self._pong_timeout:g} s")
                await pubsub.ping()
                probing = True

    async def _handle(self, message: dict[str, Any]) -> bool:
        """Hand on one message; True once `finish` is confirmed."""
        kind = message["type"]
        if message["channel"] != self._channel_key:
            return False  # the presence channel: nothing to deliver there
        if kind == "message":
            data = message["data"]
            if _MARKED in data and self._foreign(data):
                return False
            await self._submit(Envelope(data, PUBSUB))
        elif kind == "subscribe":
            self._subscribed()
        elif kind == "unsubscribe" and self._finishing:
            self.subscribed.clear()
            return True
        return False

    def _foreign(self, data: bytes) -> bool:
        """Whether `data` is marked for another deployment (then counted and logged)."""
        if self.mark is None:  # a database no bot has claimed: nothing to tell apart
            return False
        found = _MARK_VALUE.search(data)
        if found is None:  # "deployment" was a value, not a key
            return False
        marked = found.group(1).replace(b"\\/", b"/").decode(errors="replace")
        if marked == self.mark:
            return False
        self.foreign += 1
        log.info("notification_foreign", deployment=marked, mine=self.mark, channel=self._channel)
        if self._on_foreign is not None:
            self._on_foreign()
        return True

    def _subscribed(self) -> None:
        if self._backoff.recovered():  # after an outage: it logged redis_recovered
            self.subscribed.set()
            return
        if self.subscribed.is_set():
            # redis-py reconnected on its own after a short blip and subscribed again.
            log.info("redis_resubscribed", channel=self._channel)
            if self._on_reconnect is not None:
                self._on_reconnect()
        else:
            log.info("redis_subscribed", channel=self._channel, deployment=self.mark)
        self.subscribed.set()
