"""Idempotency keys: remember which notification ids were delivered, for a window of time."""

from __future__ import annotations

import redis.asyncio

DELIVERED_PREFIX = "notify:delivered:"  # string per notification id, expires after the window


class DeliveredIds:
    """Which notification `id`s were already sent. Marks expire after `window_seconds`."""

    def __init__(self, client: redis.asyncio.Redis, window_seconds: int) -> None:
        self._redis = client
        self._window = window_seconds

    async def seen(self, notification_id: str) -> bool:
        return bool(await self._redis.exists(DELIVERED_PREFIX + notification_id))

    async def remember(self, notification_id: str) -> None:
        await self._redis.set(DELIVERED_PREFIX + notification_id, "1", ex=self._window)
