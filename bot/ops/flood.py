"""Telegram's 429 pauses where /metrics sees them: the Pacer, recording each pause it is told of."""

from __future__ import annotations

import time

from bot.ops.metrics import Metrics
from bot.telegram.pacing import Limits, Pacer


class ObservedPacer(Pacer):
    """A Pacer that counts each wait Telegram asks for (notify_telegram_flood_wait_seconds) and
    says how much of it is left (notify_telegram_paused_seconds). Only a 429 costs anything:
    the pacing itself is untouched."""

    def __init__(self, limits: Limits, metrics: Metrics) -> None:
        super().__init__(limits)
        self._metrics = metrics
        self._seen_until = 0.0  # time.monotonic() when the longest pause asked for ends
        metrics.paused.set_function(self.paused_for)

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self._metrics.flood_wait.observe(seconds)
        self._seen_until = max(self._seen_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        """Seconds left of Telegram's last pause; 0 when none is running."""
        return max(0.0, self._seen_until - time.monotonic())
