"""The emulator's console: what a person following the README does by hand, without a script."""

from __future__ import annotations

import io

import redis.asyncio

from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button
from bot.testing import FakeTelegram
from bot.tools.console import Console
from tests.bots import RunningBot
from tests.helpers import token_of
from tests.waiting import eventually


async def test_a_user_links_taps_and_sees_edits_and_deletions_at_the_console(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    """It could only type text: buttons, taps, edits and groups needed a Python script."""
    out = io.StringIO()
    console = Console(telegram, out)
    console.attach()
    try:
        console.handle("as 4242 Ada")
        link = await AsyncPublisher(redis_client).create_link(42)
        console.handle(f"/start {token_of(link)}")
        await eventually(lambda: "bot -> Ada: Done: this chat is now linked" in out.getvalue())
        publisher = AsyncPublisher(
            redis_client, settings.notification_channel, settings.notification_stream
        )
        buttons = [
            [Button.url("Track", "https://shop.example/t/17")],
            [Button.action("Received it", "order-17:received")],
        ]
        await publisher.publish(42, "Order 17 shipped", id="order-17", buttons=buttons)
        shown = (
            "bot -> Ada: Order 17 shipped\n"
            "    buttons: [1] Track -> https://shop.example/t/17  [2] Received it"
        )
        await eventually(lambda: shown in out.getvalue())
        console.handle("tap 2")
        await eventually(lambda: "(a toast) ✓ Received it" in out.getvalue())
        await publisher.edit("order-17", 42, "Order 17 delivered", buttons=[])
        await eventually(lambda: "bot edited message" in out.getvalue())
        assert "in Ada: Order 17 delivered" in out.getvalue()
        console.handle("tap 1")  # its buttons are gone
        assert out.getvalue().endswith("no message with buttons here to tap\n")
        await publisher.delete("order-17", 42)
        await eventually(lambda: "bot deleted message" in out.getvalue())

        console.handle("group Order desk")
        console.handle("/help")
        await eventually(lambda: "bot -> Order desk: " in out.getvalue())
        console.handle("help")
        assert "tap N" in out.getvalue()
        assert "channel [title]" in out.getvalue()
    finally:
        console.detach()
