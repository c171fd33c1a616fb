"""Digests end to end: a category's notifications collected into one message."""

from __future__ import annotations

import redis.asyncio

from bot.config.settings import Settings
from bot.store.schedule import SCHEDULED
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.chat.chat_user import (
    CHAT,
    USER,
    buttons,
    categorized_settings,  # noqa: F401 - the fixture `settings`
    current,
    linked,
    say,
    tap,
)
from tests.helpers import publish, receipt_for, wait_sent
from tests.waiting import eventually


async def test_a_user_nobody_is_linked_for_is_unlinked_not_digested_or_held(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    running = await start_bot(settings.model_copy(update={"digest": {"news": 60}}))
    try:
        publish(settings, user_id=77, message="news for nobody", category="news", id="x1")
        assert (await receipt_for(receipts, "unlinked"))["id"] == "x1"
        assert await redis_client.exists("notify:digest:77:news") == 0
    finally:
        await running.shutdown()


async def test_a_digest_collects_a_categorys_notifications_into_one_message(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    config = settings.model_copy(update={"digest": {"news": 1}})
    running = await start_bot(config)
    try:
        await linked(telegram, redis_client)
        for n in range(3):
            publish(
                config,
                user_id=USER,
                message=f"<b>Story {n}</b>\nmore",
                format="html",
                category="news",
                id=f"story{n}",
            )
        publish(config, user_id=USER, message="Order #19 shipped", category="orders")
        for _ in range(3):
            await receipt_for(receipts, "digested")
        [digest] = await wait_sent(
            telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("📬"), timeout=15
        )
        assert digest.text == "📬 News and offers (3)\n• Story 0\n• Story 1\n• Story 2"
        texts = [m.text for m in telegram.sent if m.chat_id == CHAT]
        assert "Order #19 shipped" in texts
        assert not [t for t in texts if t.startswith(("<b>", "Story"))]

        async def sent_lines_gone() -> bool:
            # Settled after the send: its lines go, and no next flush waits (none is left).
            left = await redis_client.exists("notify:digest:42:news")
            return left == 0 and await redis_client.zcard(SCHEDULED) == 0

        await eventually(sent_lines_gone)
        # A user may turn the digest off for a category in /settings: then each comes alone.
        menu = await say(telegram, "/settings")
        await tap(telegram, menu, "📬 digest: on")
        await eventually(lambda: "📬 digest: off" in buttons(current(telegram, menu)))
        publish(config, user_id=USER, message="Story 3", category="news")
        await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Story 3")
    finally:
        await running.shutdown()
