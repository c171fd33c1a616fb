"""The emulator's test fixtures: python-telegram-bot's Bot pointed at it, and raw JSON calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.testing import FakeTelegram
from tests.testing.api import Api


@pytest.fixture
async def tg_bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        yield bot


@pytest.fixture
def api(telegram: FakeTelegram) -> Api:
    return Api(telegram)
