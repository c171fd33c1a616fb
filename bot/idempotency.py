"""Idempotency keys: remember which notification ids were delivered, for a window of time."""

from __future__ import annotations

import redis.asyncio
from redis.asyncio.client import Pipeline

DELIVERED_PREFIX = "notify:delivered:"  # string per notification id, expires after the window


class DeliveredIds:
    """Which notification `id`s were already sent. Marks expire after `window_seconds`."""

    def __init__(self, client: redis.asyncio.Redis, window_seconds: int) -> None:
        self._redis = client
        self._window = window_seconds

    async def seen(self, notification_id: str) -> bool:
        return bool(await self._redis.exists(DELIVERED_PREFIX + notification_id))

    def queue_remember(self, pipe: Pipeline, notification_id: str) -> None:
        """Queue the mark on `pipe`, to share the round trip that settles the notification."""
        pipe.set(DELIVERED_PREFIX + notification_id, "1", ex=self._window)
