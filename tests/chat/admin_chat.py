"""The admin tests' bot: user 1 is its admin, user 2 is not, and what each is answered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import reply_to

ADMIN, OTHER = 1, 2


@pytest.fixture(name="admin_settings")
def settings_with_admin(settings: Settings) -> Settings:
    """The settings with user 1 as the admin (imported, the fixture `admin_settings`)."""
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN})})


@pytest.fixture(name="bot")
async def admin_bot(
    admin_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> AsyncIterator[RunningBot]:
    """The bot with those settings, running (imported, the fixture `bot`)."""
    telegram.add_chat(ADMIN)  # the admin has talked to the bot before: the menu can be set
    running = await start_bot(admin_settings)
    yield running
    if not running.task.done():
        await running.shutdown()


async def ask(
    telegram: FakeTelegram, user_id: int, text: str, chat: dict[str, object] | None = None
) -> str:
    """Send a command as `user_id` and return the bot's reply, as the chat shows it."""
    return (await reply_to(telegram, user_id, text, chat)).text
