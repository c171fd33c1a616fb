"""The preferences tests' user 42 in chat 9001, its declared categories, what it says and taps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.preferences import parse_categories
from bot.testing import FakeTelegram, SentMessage
from tests.helpers import link_chat, reply_to

USER, CHAT = 42, 9001
CATEGORIES = "orders:Order updates,news:News and offers,security:Security alerts!"


@pytest.fixture(name="settings")
def categorized_settings(settings: Settings) -> Settings:
    """The settings with CATEGORIES declared: a test module that imports this fixture gets them
    as `settings` (and so does its `running_bot`)."""
    return settings.model_copy(update={"categories": parse_categories(CATEGORIES)})


async def say(telegram: FakeTelegram, text: str) -> SentMessage:
    """The user writes `text`; the bot's reply."""
    return await reply_to(telegram, CHAT, text)


def buttons(message: SentMessage) -> list[str]:
    rows = message.params.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


async def tap(telegram: FakeTelegram, message: SentMessage, button: str) -> dict[str, Any]:
    query = telegram.tap(CHAT, message.message_id, button=button)
    return dict(await _answer(telegram, query))


async def _answer(telegram: FakeTelegram, query: str) -> Any:
    return await asyncio.to_thread(telegram.wait_for_answer, query)


def current(telegram: FakeTelegram, message: SentMessage) -> SentMessage:
    """`message` as the chat shows it now (after edits)."""
    return next(
        m for m in telegram.sent if m.chat_id == CHAT and m.message_id == message.message_id
    )


async def linked(telegram: FakeTelegram, redis_client: redis.asyncio.Redis) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)
