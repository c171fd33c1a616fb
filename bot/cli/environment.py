"""What a command runs with: its settings, logging set up for it, a publisher on Redis."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import sentry
from bot.config.logging import configure_logging
from bot.config.settings import Settings, load_settings
from bot.publisher import AsyncPublisher
from bot.store import client as redis_client


def settings(*, require_token: bool, running: bool = False) -> Settings:
    """The settings from the environment or a .env file, and logging set up with them.

    Args:
        require_token: a missing BOT_TOKEN is a ConfigError.
        running: for the long-running bot, which logs at LOG_LEVEL to stdout (what platforms
            collect); any other command keeps stdout for its output and logs only warnings,
            to stderr; it alone reports to SENTRY_DSN.
    """
    loaded = load_settings(require_token=require_token)
    configure_logging(
        loaded.log_level if running else "WARNING",
        loaded.log_format,
        secrets=loaded.secrets,
        stream=sys.stdout if running else sys.stderr,
        color=not loaded.no_color,
        report=sentry.start(loaded) if running else None,
    )
    return loaded


def quiet_logs() -> None:
    """For the self-contained commands: only errors logged, to stderr, so their own output
    stays readable. They read no setting: REDIS_URL names the user's real Redis, which they
    must not touch."""
    configure_logging("ERROR", "console", stream=sys.stderr)


@asynccontextmanager
async def publisher(settings: Settings) -> AsyncIterator[AsyncPublisher]:
    """An AsyncPublisher on a connection of its own, closed on exit."""
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    async with client:
        yield AsyncPublisher(
            client,
            settings.notification_channel,
            settings.notification_stream,
            settings.stream_maxlen,
            settings.actions_stream,
            feedback_stream=settings.feedback_stream,
            remind_min_seconds=settings.remind_min_seconds,
        )
