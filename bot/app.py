"""Wiring and lifecycle: build every piece, run Telegram polling and the Redis listener side by
side in one event loop, and stop them in reverse order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import structlog
from redis.exceptions import RedisError, ResponseError
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder

from bot import redis_client
from bot.admin import AdminCommands
from bot.backoff import backoff_delay
from bot.broadcast import Broadcaster
from bot.deadletters import DeadLetterStore
from bot.delivery import Delivery, RetryPolicy
from bot.dispatcher import Dispatcher
from bot.handlers import ChatCommands
from bot.health import Health
from bot.idempotency import DeliveredIds
from bot.leader import LEADER_KEY, Leadership
from bot.listener import RedisListener
from bot.metrics import Metrics
from bot.outcomes import PUBSUB, STREAM, Envelope, Settler
from bot.ratelimit import Limits, PacedRequests, Pacer
from bot.receipts import Receipts
from bot.redis_client import add_to_stream
from bot.registry import ChatRegistry
from bot.senders import SENDERS_KEY, SendShare
from bot.stats import Stats
from bot.stream import StreamConsumer
from bot.telegram_http import polling_request, sending_request
from bot.updates import POLL_TIMEOUT, PollErrors, register_webhook, start_polling, webhook_path
from bot.web import HttpServer, Webhook
from config.settings import ConfigError, Settings

log = structlog.get_logger(__name__)

STUCK_AFTER = 5.0  # seconds past SHUTDOWN_TIMEOUT before a slow shutdown is reported


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
    metrics: Metrics
    health: Health
    # Present when this instance must win the leader lock to poll Telegram or read pub/sub.
    leadership: Leadership | None
    http: HttpServer | None  # when PORT is set
    send_share: SendShare

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.webhook_url)


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
    stats = Stats()
    metrics = Metrics(stats)
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_base_url)
        .request(sending_request(metrics, settings.delivery_concurrency + 8, timeout))
        # Long polling keeps httpx's own transport: one request at a time, no pool to speak of.
        .get_updates_request(polling_request(metrics, POLL_TIMEOUT, timeout))
        # Every request to a chat (deliveries, replies, broadcast progress) is paced.
        .rate_limiter(PacedRequests(pacer))
        # Updates are handled side by side: an admin's /send waiting for its outcome must not
        # hold up everyone's /start. Handlers share no state that needs their order.
        .concurrent_updates(16)
        .build()
    )
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
        metrics=metrics,
    )
    dispatcher = Dispatcher(
        delivery.deliver, settler, stats, settings.delivery_concurrency, settings.pause_buffer_max
    )

    async def from_pubsub(payload: bytes) -> None:
        await dispatcher.accept(Envelope(payload, PUBSUB))

    def reconnected(source: str) -> Callable[[], None]:
        return metrics.redis_reconnects.labels(source).inc

    listener = stream = None
    if settings.notification_channel:
        listener = RedisListener(
            client,
            settings.notification_channel,
            from_pubsub,
            on_reconnect=reconnected(PUBSUB),
        )
    if settings.notification_stream:
        stream = StreamConsumer(
            client,
            settings.notification_stream,
            settings.stream_group,
            settings.stream_consumer,
            dispatcher.accept,
            claim_idle=settings.stream_claim_idle_seconds,
            # Often enough that this instance's own entries never look idle to the others.
            claim_every=min(15.0, settings.stream_claim_idle_seconds / 3),
            on_reconnect=reconnected(STREAM),
        )
    bot_id = settings.token.split(":", 1)[0]
    # Instances delivering side by side split Telegram's overall limit between them.
    send_share = SendShare(
        client,
        SENDERS_KEY.format(bot_id=bot_id),
        settings.stream_consumer,
        pacer,
        busy=lambda: dispatcher.pending > 0,
        activity=dispatcher.activity,
    )
    broadcaster = Broadcaster(application.bot, registry, dispatcher)
    poll_errors = PollErrors()
    leadership = None
    # Polling needs one poller per token, pub/sub one reader per channel: the lock holder does
    # both. Stream entries are shared by the consumer group and need no lock.
    if not settings.webhook_url or listener is not None:
        leadership = Leadership(
            client,
            LEADER_KEY.format(bot_id=bot_id),
            settings.stream_consumer,
            lambda: _lead(application, listener, poll_errors, polling=not settings.webhook_url),
            ttl=settings.leader_lock_ttl_seconds,
        )
        metrics.leader.set_function(lambda: float(leadership.is_leader))
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
        leadership=leadership,
    )
    # Admin handlers first: the chat commands end with a catch-all for unknown messages.
    admin.register(application)
    ChatCommands(registry).register(application)

    health = Health(
        client,
        stats,
        metrics,
        dispatcher,
        leadership,
        mode="webhook" if settings.webhook_url else "polling",
        stream=settings.notification_stream,
        group=settings.stream_group,
    )
    http = None
    if settings.port is not None:
        webhook = None
        if settings.webhook_url:
            webhook = Webhook(application, webhook_path(settings), settings.webhook_secret_token)
        http = HttpServer(health, metrics, webhook)
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
        metrics,
        health,
        leadership,
        http,
        send_share,
    )


async def _lead(
    application: Application,  # type: ignore[type-arg]
    listener: RedisListener | None,
    poll_errors: PollErrors,
    *,
    polling: bool,
) -> None:
    """What the leader does, until cancelled: poll Telegram (polling mode) and read pub/sub."""
    updater = application.updater
    assert updater is not None  # ApplicationBuilder always makes one  # noqa: S101
    listening = asyncio.create_task(listener.run(), name="RedisListener") if listener else None
    try:
        if polling:
            await start_polling(updater, poll_errors)
        await (listening if listening is not None else asyncio.Event().wait())
    finally:
        if listening is not None:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
            assert listener is not None  # noqa: S101
            listener.subscribed.clear()
        # Stop polling before the lock is released or lost, so two instances never poll at once.
        if updater.running:
            await updater.stop()


async def run(settings: Settings, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Build the bot from `settings` and serve it until `stop` is set."""
    await serve(build(settings), stop, ready)


async def serve(bot: Bot, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Run `bot` until `stop` is set. Sets `ready` once it takes updates from Telegram (or
    stands by for the leader lock) and listens to Redis.

    Raises ConfigError when Telegram rejects the token or the webhook, and re-raises the
    exception of a background task that crashed, so the process exits non-zero and the
    platform restarts it.
    """
    watchdog = asyncio.create_task(_watch_shutdown(bot, stop), name="shutdown-watchdog")
    try:
        await _serve_with_redis(bot, stop, ready)
    finally:
        watchdog.cancel()
    log.info("bot_stopped", **bot.stats.snapshot())


async def _serve_with_redis(bot: Bot, stop: asyncio.Event, ready: asyncio.Event | None) -> None:
    async with bot.redis:
        await _log_redis_server(bot)
        try:
            if bot.http is not None:
                # First: a platform kills a web process that does not bind PORT in time.
                await bot.http.start(bot.settings.http_host, bot.settings.port or 0)
            if await _connect_telegram(bot, stop):
                await _serve(bot, stop, ready)
        finally:
            if bot.http is not None:
                await bot.http.stop()
            await bot.application.shutdown()  # a no-op unless initialize() succeeded
            await bot.application.bot.shutdown()  # closes HTTP clients a failed getMe left open


async def _watch_shutdown(bot: Bot, stop: asyncio.Event) -> None:
    """A shutdown that overruns its budget by far is a bug: say where every task is waiting."""
    await stop.wait()
    await asyncio.sleep(bot.settings.shutdown_timeout + STUCK_AFTER)
    current = asyncio.current_task()
    stacks = {
        task.get_name(): _awaiting(task) for task in asyncio.all_tasks() if task is not current
    }
    log.error("shutdown_stuck", waiting=stacks)


def _awaiting(task: asyncio.Task[Any]) -> str:
    """The chain of awaits a task is suspended in, outermost first (file:line function)."""
    where = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            where.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " > ".join(where) or repr(task)


async def _serve(bot: Bot, stop: asyncio.Event, ready: asyncio.Event | None) -> None:
    application = bot.application
    username = application.bot.username
    bot.health.username = username
    sources = [
        asyncio.create_task(source.run(), name=type(source).__name__)
        for source in (bot.stream, bot.leadership or bot.listener, bot.send_share)
        if source is not None
    ]
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await application.start()  # handles updates from the queue, whoever fills it
        await bot.admin.publish_menus(application.bot)
        await _announce_ready(bot, username, ready, stopping)
        await asyncio.wait({*sources, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("bot_stopping", pending=bot.dispatcher.pending)
        # Reverse order: take no new notifications (the leader stops polling and hands the
        # lock on), finish the ones in flight, then stop Telegram.
        stopping.cancel()
        for task in sources:
            task.cancel()
        await asyncio.gather(stopping, *sources, return_exceptions=True)
        # One budget for both, so SIGTERM ends within SHUTDOWN_TIMEOUT plus Telegram's goodbye.
        deadline = time.monotonic() + bot.settings.shutdown_timeout
        await bot.broadcaster.close(bot.settings.shutdown_timeout / 4)
        left = await bot.dispatcher.drain(max(deadline - time.monotonic(), 0.1))
        await _hand_back(bot, left)
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
    """Log `bot_ready` once every source listens and this instance knows whether it leads (or
    we are told to stop first). Until then Redis may still be down; the sources keep trying."""
    leadership = bot.leadership
    waits = [bot.stream.ready if bot.stream else None, leadership.decided if leadership else None]
    for event in filter(None, waits):
        if not await _until(event, stopping):
            return
    # Decided: the leader (or a bot without a lock) reads pub/sub. Ready means subscribed.
    leads = leadership is None or leadership.is_leader
    if leads and bot.listener is not None and not await _until(bot.listener.subscribed, stopping):
        return
    # Only now: Redis may have been down at start-up. Publishers read it for deep links.
    with contextlib.suppress(RedisError):
        await bot.registry.remember_bot_username(username)
    log.info(
        "bot_ready",
        username=username,
        mode=bot.health.mode,
        role=None if leadership is None else ("leader" if leadership.is_leader else "standby"),
        channel=bot.settings.notification_channel or None,
        stream=bot.settings.notification_stream or None,
        port=bot.http.port if bot.http else None,
    )
    if ready is not None:
        ready.set()


async def _until(event: asyncio.Event, stopping: asyncio.Task[Any]) -> bool:
    """Wait for `event`; False if told to stop first."""
    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait({waiter, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return not stopping.done()


async def _connect_telegram(bot: Bot, stop: asyncio.Event) -> bool:
    """Initialise the application (getMe) and register the webhook in webhook mode, retrying
    while Telegram is unreachable.

    Returns False if `stop` was set before Telegram answered.
    """
    application = bot.application
    attempt = 0
    while not stop.is_set():
        try:
            await application.initialize()
            if bot.webhook_mode:
                await register_webhook(application.bot, bot.settings)
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
