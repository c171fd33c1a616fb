"""The emulator's flood control: Telegram's documented limits, enforced on arrival.

Written apart from the bot's pacing on purpose (it imports nothing of the bot): if the bot's
limiter miscounts, this model disagrees and a test sees 429s. Telegram publishes only rough
rules (about 30 messages a second overall, about one a second per chat with short bursts, 20 a
minute per group) and not its algorithm; this model reads them as "at most N arrivals in any
interval of P seconds" and keeps the arrival times to count them.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass

_arrival = threading.local()


def mark_arrival() -> None:
    """Note, on the server thread that reads it, when a request's first line came in."""
    _arrival.at = time.monotonic()


def arrived_at() -> float:
    """When the request this thread is answering came in: what Telegram counts. Stamped as
    the request line is read, not later under the emulator's lock, so that waiting for the lock
    or for the interpreter (the bot runs in the same process in tests) adds no jitter of ours
    to a bot's spacing; measured, it once turned 300 well-paced sends into one 429."""
    at: float | None = getattr(_arrival, "at", None)
    return time.monotonic() if at is None else at


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's limits as the emulator enforces them."""

    per_second: float = 30.0  # all chats together; 1000 with paid broadcasts
    chat_burst: int = 3  # a private chat takes this many at once ...
    chat_period: float = 3.0  # ... within this many seconds (about 1/s)
    group_per_minute: int = 20  # groups, supergroups and channels (negative ids)


class FloodControl:
    """Counts arrivals and answers how long a request that arrives now must wait (0: admitted,
    and counted). Not thread-safe: the emulator calls it under its lock."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._overall: list[float] = []
        self._chats: defaultdict[int, list[float]] = defaultdict(list)

    def admit(self, chat_id: int, now: float) -> float:
        """0.0 if a message to `chat_id` arriving at `now` is within every limit (it is then
        counted); otherwise the seconds until it would be, and nothing is counted."""
        overall_count, overall_period = self._overall_rule()
        chat_count, chat_period = self._chat_rule(chat_id)
        wait = max(
            _wait(self._overall, overall_count, overall_period, now),
            _wait(self._chats[chat_id], chat_count, chat_period, now),
        )
        if wait > 0:
            return wait
        # Stamped before the lock, requests may be admitted a little out of order.
        insort(self._overall, now)
        insort(self._chats[chat_id], now)
        _forget(self._overall, now - overall_period)
        _forget(self._chats[chat_id], now - chat_period)
        return 0.0

    @staticmethod
    def retry_after(wait: float) -> int:
        """Telegram's retry_after: whole seconds, at least 1."""
        return max(1, math.ceil(wait))

    def _overall_rule(self) -> tuple[int, float]:
        """`per_second` as whole arrivals per interval: 30/s is 30 in 1 s, 0.5/s is 1 in 2 s,
        30.5/s is 31 in 1.016 s."""
        rate = self.limits.per_second
        count = max(1, round(rate))
        return count, count / rate

    def _chat_rule(self, chat_id: int) -> tuple[int, float]:
        if chat_id < 0:
            return self.limits.group_per_minute, 60.0
        return self.limits.chat_burst, self.limits.chat_period


def _wait(arrivals: list[float], count: int, period: float, now: float) -> float:
    """How long until fewer than `count` of `arrivals` lie in (now' - period, now']."""
    # Arrivals still inside the interval that ends now (and any stamped later, admitted first).
    inside = arrivals[bisect_right(arrivals, now - period) :]
    if len(inside) < count:
        return 0.0
    # One more fits once the arrival `count` places from the end has left the interval.
    return inside[len(inside) - count] + period - now


def _forget(arrivals: list[float], before: float) -> None:
    del arrivals[: bisect_right(arrivals, before)]
