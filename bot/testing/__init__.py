"""The Bot API emulator: Telegram modelled on its own, for tests, the demo and your tests.

    from bot.testing import FakeTelegram

It imports nothing of the bot's runtime (an import-linter contract says so): it is a second,
independent model of Telegram, so where the bot and it disagree, a test fails.
"""

from bot.testing.emulator import FakeTelegram
from bot.testing.flood import FloodLimits
from bot.testing.model import DEFAULT_TOKEN, ApiCall, ApiError, JSONDict, SentMessage

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "FakeTelegram",
    "FloodLimits",
    "JSONDict",
    "SentMessage",
]
