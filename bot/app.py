"""Wiring and lifecycle: build every piece, run Telegram polling and the Redis listener side by
side in one event loop, and stop them in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio
import structlog
from httpx_aiohttp import AiohttpTransport
from redis.exceptions import RedisError, ResponseError
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot import redis_client
from bot.admin import AdminCommands
from bot.backoff import backoff_delay
from bot.broadcast import Broadcaster
from bot.deadletters import DeadLetterStore
from bot.delivery import Delivery, RetryPolicy
from bot.dispatcher import Dispatcher
from bot.handlers import ChatCommands
from bot.idempotency import DeliveredIds
from bot.listener import RedisListener
from bot.outcomes import PUBSUB, Envelope, Settler
from bot.ratelimit import Limits, PacedRequests, Pacer
from bot.receipts import Receipts
from bot.redis_client import add_to_stream
from bot.registry import ChatRegistry
from bot.stats import Stats
from bot.stream import StreamConsumer
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
    dead_letters: DeadLetterStore
    dispatcher: Dispatcher
    listener: RedisListener | None
    stream: StreamConsumer | None
    broadcaster: Broadcaster
    admin: AdminCommands


def build(settings: Settings) -> Bot:
    """Create and wire the pieces; nothing connects yet."""
    client = redis_client.async_client(
        settings.redis_url,
        settings.redis_ssl_cert_reqs,
        # One per delivery in flight, plus the sources' own and command handlers'.
        max_connections=settings.delivery_concurrency + 16,
    )
    registry = ChatRegistry(client)
    timeout = settings.telegram_timeout
    limits = Limits(
        per_second=settings.overall_per_second,
        chat_burst=settings.telegram_chat_burst,
        chat_per_second=settings.telegram_chat_per_second,
        group_per_minute=settings.telegram_group_per_minute,
    )
    pacer = Pacer(limits)
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_base_url)
        .request(sending_request(settings.delivery_concurrency + 8, timeout))
        # Long polling keeps httpx's own transport: one request at a time, no pool to speak of.
        .get_updates_request(
            HTTPXRequest(
                connection_pool_size=1,
                read_timeout=POLL_TIMEOUT + timeout,
                write_timeout=timeout,
                connect_timeout=timeout,
            )
        )
        # Every request to a chat (deliveries, replies, broadcast progress) is paced.
        .rate_limiter(PacedRequests(pacer))
        # Updates are handled side by side: an admin's /send waiting for its outcome must not
        # hold up everyone's /start. Handlers share no state that needs their order.
        .concurrent_updates(16)
        .build()
    )
    stats = Stats()
    dead_letters = DeadLetterStore(client, settings.deadletter_maxlen)
    retry = RetryPolicy(
        settings.delivery_max_attempts, settings.delivery_retry_base, settings.delivery_retry_max
    )
    delivery = Delivery(
        application.bot,
        registry,
        pacer,
        retry,
        paid_broadcast=settings.telegram_paid_broadcast,
    )
    settler = Settler(
        client,
        stats,
        dead_letters,
        Receipts(settings.receipt_channel),
        DeliveredIds(client, settings.idempotency_window_seconds),
    )
    dispatcher = Dispatcher(
        delivery.deliver, settler, stats, settings.delivery_concurrency, settings.pause_buffer_max
    )

    async def from_pubsub(payload: bytes) -> None:
        await dispatcher.accept(Envelope(payload, PUBSUB))

    listener = stream = None
    if settings.notification_channel:
        listener = RedisListener(client, settings.notification_channel, from_pubsub)
    if settings.notification_stream:
        stream = StreamConsumer(
            client,
            settings.notification_stream,
            settings.stream_group,
            settings.stream_consumer,
            dispatcher.accept,
            claim_idle=settings.stream_claim_idle_seconds,
        )
    broadcaster = Broadcaster(application.bot, registry, dispatcher)
    admin = AdminCommands(
        settings,
        client=client,
        registry=registry,
        stats=stats,
        dispatcher=dispatcher,
        dead_letters=dead_letters,
        broadcaster=broadcaster,
        listener=listener,
        stream=stream,
    )
    # Admin handlers first: the chat commands end with a catch-all for unknown messages.
    admin.register(application)
    ChatCommands(registry).register(application)
    return Bot(
        settings,
        client,
        registry,
        application,
        stats,
        dead_letters,
        dispatcher,
        listener,
        stream,
        broadcaster,
        admin,
    )


def sending_request(connections: int, timeout: float) -> HTTPXRequest:
    """python-telegram-bot's request object for everything but getUpdates, on an aiohttp
    transport: httpx's own connection pool cost 1.5 ms of CPU per sendMessage here (555/s),
    aiohttp's about half that (see README: benchmark). Timeouts keep their
    meaning (a hung request is cut off after `timeout`), and aiohttp's connection errors
    arrive as httpx's, so python-telegram-bot still raises TimedOut / NetworkError."""
    transport = AiohttpTransport(limits=httpx.Limits(max_connections=connections))
    return HTTPXRequest(
        connection_pool_size=connections,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
        httpx_kwargs={"transport": transport},
    )


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
    sources = [
        asyncio.create_task(source.run(), name=type(source).__name__)
        for source in (bot.listener, bot.stream)
        if source is not None
    ]
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await updater.start_polling(
            timeout=POLL_TIMEOUT, allowed_updates=[Update.MESSAGE], drop_pending_updates=False
        )
        await application.start()
        await bot.admin.publish_menus(application.bot)
        await _announce_ready(bot, username, ready, stopping)
        await asyncio.wait({*sources, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("bot_stopping", pending=bot.dispatcher.pending)
        # Reverse order: take no new notifications, finish the ones in flight, then stop Telegram.
        stopping.cancel()
        for task in sources:
            task.cancel()
        await asyncio.gather(stopping, *sources, return_exceptions=True)
        # One budget for both, so SIGTERM ends within SHUTDOWN_TIMEOUT plus Telegram's goodbye.
        deadline = time.monotonic() + bot.settings.shutdown_timeout
        await bot.broadcaster.close(bot.settings.shutdown_timeout / 4)
        left = await bot.dispatcher.drain(max(deadline - time.monotonic(), 0.1))
        await _hand_back(bot, left)
        if updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
    for task in sources:
        crash = None if task.cancelled() else task.exception()
        if crash is not None:
            raise crash


async def _hand_back(bot: Bot, envelopes: list[Envelope]) -> None:
    """Keep what shutdown cut short. Stream entries need nothing: unacknowledged, they stay
    pending and the next start resumes them. Pub/sub ones go onto the stream (or, without one,
    into the dead-letter store) so that they are not lost."""
    from_pubsub = [envelope for envelope in envelopes if envelope.source == PUBSUB]
    if not from_pubsub:
        return
    stream = bot.settings.notification_stream
    try:
        for envelope in from_pubsub:
            if stream:
                await add_to_stream(bot.redis, stream, envelope.payload, bot.settings.stream_maxlen)
            else:
                await bot.dead_letters.add(
                    envelope.payload, "shutdown before delivery", 0, PUBSUB, envelope.received_at
                )
    except RedisError as exc:
        log.error("hand_back_failed", error=str(exc), lost=len(from_pubsub))  # noqa: TRY400
        return
    log.info("handed_back", notifications=len(from_pubsub), to=stream or "dead letters")


async def _announce_ready(
    bot: Bot, username: str, ready: asyncio.Event | None, stopping: asyncio.Task[Any]
) -> None:
    """Log `bot_ready` once every source listens (or we are told to stop first). Until then
    Redis may still be down; the sources keep trying on their own."""
    listening = [
        bot.listener.subscribed if bot.listener else None,
        bot.stream.ready if bot.stream else None,
    ]
    for event in filter(None, listening):
        waiter = asyncio.create_task(event.wait())
        try:
            await asyncio.wait({waiter, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if stopping.done():
            return
    # Only now: Redis may have been down at start-up. Publishers read it for deep links.
    with contextlib.suppress(RedisError):
        await bot.registry.remember_bot_username(username)
    log.info(
        "bot_ready",
        username=username,
        channel=bot.settings.notification_channel or None,
        stream=bot.settings.notification_stream or None,
    )
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
        await bot.redis.ping()
    except RedisError as exc:
        log.warning("redis_unavailable_at_start", redis=where, error=str(exc))
        return
    try:
        version = (await bot.redis.info("server")).get("redis_version")
    except ResponseError:  # a Redis-compatible server without INFO (e.g. the demo's)
        version = "unknown"
    log.info("redis_connected", redis=where, version=version)
