"""Flood control: pace sendMessage calls below Telegram's limits, and pause all sends on a 429."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram._utils.types import JSONDict
from telegram.error import TelegramError
from telegram.ext import BaseRateLimiter

from bot.loops.turns import Turns

# Client-side windows are this much longer than Telegram's, so jitter between our clock and the
# arrival time at Telegram cannot push a request into a window that is already full. Measured:
# a busy event loop once delayed one request 33 ms more than the one 30 sends later, which a
# 1 % margin (10 ms a second) turned into a 429. With sends no longer going through
# python-telegram-bot the loop is less busy: 2 % (20 ms a second) gave no 429 in 3 runs at
# 30/s with another process keeping a core busy (97.6-97.7 % of the cap; 3 % capped it at
# 97.1 %) and in 3 runs at 1000/s (96.1-97.1 %). Settling in transactions (exactly once) gave
# the loop a little more to do per send: one 429 in 300 at 30/s in one of five CI runs with
# 2 %; 3 % then. With 3 %, two CI runs on 2026-12-08 (the suite grown to 1,300 tests, the
# emulator already counting a request when its first line arrives) each saw one 429 in 300:
# 5 % now (50 ms a second), for 2 % more of the cap.
MARGIN = 0.05
SHARED_MARGIN = 0.05  # see Pacer.set_share
OVERSHOOT_CREDIT = 0.002  # seconds a send may be counted before it happened (see wait_turn)
SLICE = 0.02  # seconds: the overall limit is applied per slice of this length
PRUNE_EVERY = 1000  # acquisitions between sweeps of idle per-chat windows


class SlidingWindow:
    """At most `limit` events in any `period` seconds."""

    __slots__ = ("_times", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._times: deque[float] = deque(maxlen=limit)

    def wait_time(self, now: float) -> float:
        """Seconds until one more event fits; 0 if it fits now."""
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[0] + self.period - now)

    def record(self, now: float) -> None:
        self._times.append(now)

    def last(self) -> float | None:
        return self._times[-1] if self._times else None

    def idle_since(self, now: float) -> bool:
        """True when the whole window has passed since the last event (safe to forget)."""
        return not self._times or self._times[-1] + self.period <= now


@dataclass(frozen=True)
class Limits:
    """Telegram's limits as this bot applies them (docs: how-it-works/flood-control.md)."""

    per_second: float = 30.0
    chat_burst: int = 3
    chat_per_second: float = 1.0
    group_per_minute: int = 20

    def overall(self) -> SlidingWindow:
        # A whole number of sends per whole second keeps the arithmetic exact for < 1/s rates.
        limit = max(1, round(self.per_second)) if self.per_second >= 1 else 1
        period = limit / self.per_second
        return SlidingWindow(limit, period)

    def for_chat(self, chat_id: int) -> SlidingWindow:
        # Telegram ids: users are positive, groups, supergroups and channels negative.
        if chat_id < 0:
            return SlidingWindow(self.group_per_minute, 60.0)
        return SlidingWindow(self.chat_burst, self.chat_burst / self.chat_per_second)


def _with_margin(window: SlidingWindow) -> SlidingWindow:
    return SlidingWindow(window.limit, window.period * (1 + MARGIN))


def _spaced(per_second: float) -> SlidingWindow:
    """The overall limit as evenly spaced slices (see Pacer)."""
    per_slice = max(1, int(per_second * SLICE))
    return _with_margin(SlidingWindow(per_slice, per_slice / per_second))


REPLY_RANK = 0  # command replies and admin progress: a person is waiting, as for "high"
REPLY_MAX_WAIT = 10.0  # seconds a reply may wait for its chat's turn before it is dropped
# The Bot API methods that put a message in a chat (or change one): what the limits count.
PACED_PREFIXES = ("send", "edit", "copy", "forward")


class Pacer:
    """Waits before each send so that no limit is exceeded, and holds every send while Telegram
    has asked us (429 retry_after) to wait. Waiters get their turn in arrival order."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        # Evenly spaced rather than Telegram's window of 30: a burst of 30 grants leaves the
        # event loop building 30 requests at once, so the last of them reach Telegram tens of
        # ms late and crowd the next second's window. Small slices (one send per 1/30 s at the
        # free rate) keep arrival close to grant; at paid-broadcast rates a slice of 20 ms
        # worth of sends keeps the timer from being the bottleneck (1 ms sleeps gave ~700/s).
        self._overall = _spaced(limits.per_second)
        self._chats: dict[int, _Chat] = {}
        # Sends take their turn by priority: a high one waits for no queued normal or bulk one.
        self._turn = Turns(1)
        self._paused_until = 0.0
        self._acquired = 0

    def set_share(self, instances: int) -> None:
        """Pace to 1/`instances` of the overall limit (the instances sending right now).
        Shared, it keeps SHARED_MARGIN more in hand: the instances' sends are not spaced
        against each other, so any second can hold one more from each than the average."""
        last = self._overall.last()
        rate = self._limits.per_second
        if instances > 1:
            rate = rate / instances * (1 - SHARED_MARGIN)
        self._overall = _spaced(rate)
        if last is not None:
            self._overall.record(last)  # no burst just because the window was replaced

    def pause(self, seconds: float) -> None:
        """Telegram said 429: no send of any chat goes out for `seconds`."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def wait_turn(self, chat_id: int, rank: int = 1) -> None:
        """Return when a message to `chat_id` may be sent now; the send is then counted.
        Requests to one chat take their turns one after another, in arrival order, whoever
        makes them (a delivery lane, command replies handled side by side); across chats the
        turns go by `rank` (bot.loops.turns: 0 high, 1 normal, 2 bulk), then arrival."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(_with_margin(self._limits.for_chat(chat_id)))
        # The per-chat wait happens outside the shared lock: one busy chat must not hold up
        # the others. Inside the chat's own lock: a request that waited here is counted before
        # the next one to the same chat looks at the window.
        async with chat.turn:
            delay = chat.window.wait_time(time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._turn.turn(rank):
                due: float | None = None
                while True:
                    now = time.monotonic()
                    delay = max(self._overall.wait_time(now), self._paused_until - now)
                    if delay <= 0:
                        break
                    due = now + delay
                    await asyncio.sleep(delay)
                # Count the send at the time it was due, not when the timer woke us (it
                # overshoots by a fraction of a ms): otherwise the overshoot adds up and the
                # rate sags ~3 %. But never more than OVERSHOOT_CREDIT early: when the loop
                # was busy and we woke 15 ms late, counting the send 15 ms early would eat
                # the margin and cause a 429.
                stamp = now if due is None else max(due, now - OVERSHOOT_CREDIT)
                self._overall.record(stamp)
                chat.window.record(stamp)
        self._acquired += 1
        if self._acquired % PRUNE_EVERY == 0:
            self._prune(now)

    def _prune(self, now: float) -> None:
        idle = [
            chat_id
            for chat_id, chat in self._chats.items()
            if chat.window.idle_since(now) and not chat.turn.locked()
        ]
        for chat_id in idle:
            del self._chats[chat_id]


class _Chat:
    """One chat's window and the lock its requests queue on."""

    __slots__ = ("turn", "window")

    def __init__(self, window: SlidingWindow) -> None:
        self.window = window
        self.turn = asyncio.Lock()


class ReplyDropped(TelegramError):
    """A reply whose chat's turn would come too late to matter: not sent. The chat's pace is
    spent (a flood in a group or channel), and waiting would only pile replies up."""


class PacedRequests(BaseRateLimiter[None]):
    """python-telegram-bot's rate-limiter hook, so that every request it makes to a chat
    (command replies, broadcast progress edits) takes its turn at the same Pacer as the
    deliveries (sender.py waits for theirs itself). A request that would wait more than
    `max_wait` seconds for its chat's turn is not made (ReplyDropped): a person waiting for an
    answer that far off has moved on, and its handler would hold up the chat's next update."""

    def __init__(self, pacer: Pacer, max_wait: float = REPLY_MAX_WAIT) -> None:
        self.pacer = pacer
        self._max_wait = max_wait
        # True while calls to a chat are made by the leader (relay.py): it paces them there.
        self.relayed: Callable[[], bool] = lambda: False

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(  # noqa: PLR0917 - python-telegram-bot's signature
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id = data.get("chat_id")
        # Telegram's limits are on messages: a look-up (getChatMember) or a deletion takes no
        # turn, and must not be dropped (a token's post must go, whatever the chat's pace).
        sends = endpoint.startswith(PACED_PREFIXES)
        if (
            sends
            and not self.relayed()
            and isinstance(chat_id, int | str)
            and str(chat_id).lstrip("-").isdigit()
        ):
            # A reply to someone who just typed a command goes before queued notifications.
            try:
                await asyncio.wait_for(
                    self.pacer.wait_turn(int(chat_id), REPLY_RANK), self._max_wait
                )
            except TimeoutError:
                raise ReplyDropped(
                    f"{endpoint}: the chat's turn is more than {self._max_wait:g} s away"
                ) from None
        return await callback(*args, **kwargs)
