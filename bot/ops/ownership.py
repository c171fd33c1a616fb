"""At start-up: claim the Redis database for this bot, or stop (exit 2) if another bot owns it."""

from __future__ import annotations

import redis.asyncio

from bot.config.settings import ConfigError
from bot.store import deployment


async def claim_database(client: redis.asyncio.Redis, token: str) -> None:
    """Record this bot's id in its database (`notify:bot_id`). ConfigError naming REDIS_URL
    when another bot's id is there: both would read and change the same chats, counters and
    streams. Redis errors propagate (the caller retries)."""
    try:
        await deployment.claim(client, deployment.bot_id_of(token))
    except deployment.DatabaseTaken as exc:
        raise ConfigError(f"REDIS_URL: {exc}") from None
