"""What the stream tests share: a plain XADD, a link made earlier, what is pending."""

from __future__ import annotations

import json

import redis
import redis.asyncio

from bot.config.settings import Settings
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram


def plain_xadd(settings: Settings, payload: object) -> str:
    """What any language can do: XADD one entry with a `payload` field holding the JSON."""
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        entry = client.xadd(settings.notification_stream, {"payload": data})
        return entry.decode() if isinstance(entry, bytes) else str(entry)
    finally:
        client.close()


async def linked_earlier(
    client: redis.asyncio.Redis, telegram: FakeTelegram, *, user_id: int, chat_id: int
) -> None:
    """A link made before this test's bot started (no /start exchange needed)."""
    await ChatRegistry(client).link(user_id, chat_id)
    telegram.add_chat(chat_id)


async def pending(client: redis.asyncio.Redis, settings: Settings) -> int:
    summary = await client.xpending(settings.notification_stream, settings.stream_group)
    return int(summary["pending"])


async def _none_pending(client: redis.asyncio.Redis, settings: Settings) -> bool:
    return await pending(client, settings) == 0
