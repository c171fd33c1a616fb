"""The blog post's design, which `python -m bot bench` measures beside the bot: one serial loop
of get_message() -> json.loads -> lookup -> await bot.send_message(). Not part of the bot."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio
from telegram import Bot

from bot.config.settings import load_settings
from bot.store.chat_links import USER_CHATS
from bot.store.chats import decode_chats


async def main() -> None:
    settings = load_settings()
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    async with Bot(settings.token, base_url=settings.telegram_base_url) as bot:
        pubsub = client.pubsub()
        await pubsub.subscribe(settings.notification_channel)
        print("blog_ready", flush=True)  # noqa: T201 - the bench waits for this line
        while True:
            # As in the blog: no timeout, so get_message() returns at once and the loop spins.
            message = await pubsub.get_message(ignore_subscribe_messages=True)
            if message is None:
                continue
            data = json.loads(message["data"])
            chats = decode_chats(await client.hget(USER_CHATS, str(data["user_id"])))
            await bot.send_message(chat_id=chats[0].chat_id if chats else 0, text=data["message"])


if __name__ == "__main__":
    asyncio.run(main())
