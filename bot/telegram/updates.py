"""How Telegram's updates reach the bot: long polling by the leader, or a webhook that every
instance serves."""

from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

import structlog
from telegram import Bot, Update
from telegram.error import BadRequest, Conflict, TelegramError
from telegram.ext import Updater

from bot.config.settings import ConfigError, Settings

log = structlog.get_logger(__name__)

POLL_TIMEOUT = 10  # seconds a getUpdates long poll stays open: one request per 10 s when idle
# Messages, button taps, the bot added to or removed from a chat, and channel posts (a channel
# is linked by posting its token there).
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
    Update.CHANNEL_POST,
    Update.MESSAGE_REACTION,  # only sent when asked for by name (reactions to notifications)
]
CONFLICT_LOG_EVERY = 60.0  # seconds: one clear line, not one per retry


class PollErrors:
    """python-telegram-bot's polling error callback: it retries on its own (1 s, growing to
    30 s); this says once a minute, in one line, what a 409 means and what to do."""

    def __init__(self) -> None:
        self.conflicts = 0
        self._conflict_logged_at = -math.inf

    def __call__(self, exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            self.conflicts += 1
            now = time.monotonic()
            if now - self._conflict_logged_at >= CONFLICT_LOG_EVERY:
                self._conflict_logged_at = now
                log.error(
                    "telegram_conflict",
                    error=exc.message,
                    conflicts=self.conflicts,
                    hint="another process polls with this bot token outside this Redis's "
                    "leader lock, or a webhook is set: stop it, or point it at the same REDIS_URL",
                )
        else:
            log.warning("telegram_poll_failed", error=exc.message)


async def start_polling(updater: Updater, errors: PollErrors) -> None:
    # drop_pending_updates=False: a /start sent while no instance polled is still answered.
    await updater.start_polling(
        timeout=POLL_TIMEOUT,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
        error_callback=errors,
    )


async def register_webhook(bot: Bot, settings: Settings) -> None:
    """setWebhook with the secret every instance shares; every instance calls it at start (the
    same registration, so the order does not matter) and none removes it at stop."""
    try:
        await bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret_token,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
    except BadRequest as exc:
        raise ConfigError(f"WEBHOOK_URL: refused by Telegram: {exc.message}") from None
    log.info("webhook_registered", url=settings.webhook_url)


def webhook_path(settings: Settings) -> str:
    return urlsplit(settings.webhook_url).path or "/"
