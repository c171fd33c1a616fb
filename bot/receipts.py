"""Delivery receipts: a small JSON message per final outcome, for the web app to react to."""

from __future__ import annotations

import json

from redis.asyncio.client import Pipeline

from bot.stats import Outcome

# Statuses a receipt can carry (a duplicate gets none: its first delivery had one).
RECEIPT_STATUSES = (
    Outcome.SENT,
    Outcome.UNLINKED,
    Outcome.BLOCKED,
    Outcome.FAILED,
    Outcome.INVALID,
)


class Receipts:
    """Publishes `{"id", "user_id", "status"}` on a channel; an empty channel turns them off."""

    def __init__(self, channel: str) -> None:
        self._channel = channel

    def queue(
        self, pipe: Pipeline, outcome: Outcome, user_id: int | None, notification_id: str | None
    ) -> None:
        """Queue the receipt's PUBLISH on `pipe`."""
        if not self._channel or outcome not in RECEIPT_STATUSES:
            return
        receipt = {"id": notification_id, "user_id": user_id, "status": outcome.value}
        pipe.publish(self._channel, json.dumps(receipt))
