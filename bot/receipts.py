"""Delivery receipts: a small JSON message per final outcome, for the web app to react to."""

from __future__ import annotations

import json

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.stats import Outcome

log = structlog.get_logger(__name__)

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

    def __init__(self, client: redis.asyncio.Redis, channel: str) -> None:
        self._redis = client
        self._channel = channel

    async def publish(
        self, outcome: Outcome, user_id: int | None, notification_id: str | None
    ) -> None:
        if not self._channel or outcome not in RECEIPT_STATUSES:
            return
        receipt = {"id": notification_id, "user_id": user_id, "status": outcome.value}
        try:
            await self._redis.publish(self._channel, json.dumps(receipt))
        except RedisError as exc:
            # A lost receipt must not turn a delivered notification into a failed one.
            log.warning("receipt_not_published", error=str(exc), **receipt)
