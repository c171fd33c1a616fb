"""Wiring and lifecycle: build every piece, run Telegram polling and the Redis listener side by
side in one event loop, and stop them in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import redis.asyncio
import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder

from bot import redis_client
from bot.backoff import backoff_delay
from bot.delivery import Delivery
from bot.dispatcher import Dispatcher
from bot.handlers import ChatCommands
from bot.listener import RedisListener
from bot.registry import ChatRegistry
from bot.stats import Stats
from config.settings import ConfigError, Settings

log = structlog.get_logger(__name__)

POLL_TIMEOUT = 10  # seconds a getUpdates long poll stays open: one request per 10 s when idle


@dataclass
class Bot:
    """Everything `run` builds, exposed so tests and benchmarks can look inside."""

    settings: Settings
    redis: redis.asyncio.Redis
    registry: ChatRegistry
    application: Application  # type: ignore[type-arg]
    stats: Stats
    dispatcher: Dispatcher
    listener: RedisListener


def build(settings: Settings) -> Bot:
    """Create and wire the pieces; nothing connects yet."""
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    registry = ChatRegistry(client)
    application = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .connection_pool_size(settings.delivery_concurrency + 8)  # room for handler replies
        .get_updates_read_timeout(POLL_TIMEOUT + 10)
        .build()
    )
    ChatCommands(registry).register(application)
    stats = Stats()
    delivery = Delivery(application.bot, registry, stats)
    dispatcher = Dispatcher(delivery.deliver, stats, settings.delivery_concurrency)
    listener = RedisListener(client, settings.notification_channel, dispatcher.accept)
    return Bot(settings, client, registry, application, stats, dispatcher, listener)


async def run(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Build the bot from `settings` and serve it until `stop` is set."""
    await serve(build(settings), stop, ready)


async def serve(bot: Bot, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Run `bot` until `stop` is set. Sets `ready` once it polls Telegram and listens to Redis.

    Raises ConfigError when Telegram rejects the token, and re-raises the exception of a
    background task that crashed, so the process exits non-zero and the platform restarts it.
    """
    async with bot.redis:
        await _log_redis_server(bot)
        try:
            if await _connect_telegram(bot.application, stop):
                await _serve(bot, stop, ready)
        finally:
            await bot.application.shutdown()  # a no-op unless initialize() succeeded
            await bot.application.bot.shutdown()  # closes HTTP clients a failed getMe left open
    log.info("bot_stopped", **bot.stats.snapshot())


async def _serve(bot: Bot, stop: asyncio.Event, ready: asyncio.Event | None) -> None:
    application = bot.application
    updater = application.updater
    assert updater is not None  # ApplicationBuilder always makes one  # noqa: S101
    username = application.bot.username
    with contextlib.suppress(RedisError):
        await bot.registry.remember_bot_username(username)

    listening = asyncio.create_task(bot.listener.run(), name="redis-listener")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await updater.start_polling(
            timeout=POLL_TIMEOUT, allowed_updates=[Update.MESSAGE], drop_pending_updates=False
        )
        await application.start()
        await _announce_ready(bot, username, ready, stopping)
        await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("bot_stopping", pending=bot.dispatcher.pending)
        # Reverse order: take no new notifications, finish the ones in flight, then stop Telegram.
        stopping.cancel()
        listening.cancel()
        await asyncio.gather(stopping, listening, return_exceptions=True)
        await bot.dispatcher.drain(bot.settings.shutdown_timeout)
        if updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
    crash = None if listening.cancelled() else listening.exception()
    if crash is not None:
        raise crash


async def _announce_ready(
    bot: Bot, username: str, ready: asyncio.Event | None, stopping: asyncio.Task[object]
) -> None:
    """Log `bot_ready` once the listener's first subscription is confirmed (or we are told to
    stop first). Until then Redis may still be down; the listener keeps trying on its own."""
    subscribed = asyncio.create_task(bot.listener.subscribed.wait())
    try:
        await asyncio.wait({subscribed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        subscribed.cancel()
    if stopping.done():
        return
    log.info("bot_ready", username=username, channel=bot.settings.notification_channel)
    if ready is not None:
        ready.set()


async def _connect_telegram(application: Application, stop: asyncio.Event) -> bool:  # type: ignore[type-arg]
    """Initialise the application (getMe), retrying while Telegram is unreachable.

    Returns False if `stop` was set before Telegram answered.
    """
    attempt = 0
    while not stop.is_set():
        try:
            await application.initialize()
        except InvalidToken:
            raise ConfigError("BOT_TOKEN was rejected by Telegram (Unauthorized)") from None
        except NetworkError as exc:
            attempt += 1
            delay = backoff_delay(attempt, 1.0, 60.0)
            log.warning(
                "telegram_unreachable", error=exc.message, attempt=attempt, retry_in=round(delay, 2)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        else:
            if attempt:
                log.info("telegram_recovered", attempts=attempt)
            log.info("telegram_connected", username=application.bot.username)
            return True
    return False


async def _log_redis_server(bot: Bot) -> None:
    """PING at start-up and say which server we reached; a failure here is not fatal."""
    where = redis_client.describe(bot.settings.redis_url)
    try:
        info = await bot.redis.info("server")
    except RedisError as exc:
        log.warning("redis_unavailable_at_start", redis=where, error=str(exc))
        return
    log.info("redis_connected", redis=where, version=info.get("redis_version"))
