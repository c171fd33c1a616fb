"""Lifecycle: start the built bot in order (HTTP, Telegram, sources), say when it is ready,
and stop it in reverse within the shutdown budget, handing back what it could not finish."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Coroutine
from typing import Any

import structlog
from redis.exceptions import RedisError, ResponseError
from telegram.error import InvalidToken, NetworkError

from bot.app import Bot, build
from bot.chat.menus import publish_menus
from bot.config.settings import ConfigError, Settings
from bot.loops.reconnect import Backoff, keep_connected
from bot.notification.schema import Notification
from bot.ops.ownership import claim_database
from bot.store import manifest, schema
from bot.store.client import describe
from bot.telegram.updates import register_webhook

log = structlog.get_logger(__name__)

# Seconds past SHUTDOWN_TIMEOUT and the sends' last TELEGRAM_TIMEOUT before a slow shutdown is
# reported.
STUCK_AFTER = 5.0
READY_LOOK = 0.2  # seconds between looks at the leadership while a leader gets ready


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
    async with bot.redis, bot.exact:
        await _log_redis_server(bot)
        try:
            if bot.http is not None:
                # First: a platform kills a web process that does not bind PORT in time.
                await _listen(bot)
            # Telegram first: a rejected token stops the start even while Redis is down.
            if await _connect_telegram(bot, stop) and await _migrate_schema(bot, stop):
                await _serve(bot, stop, ready)
        finally:
            if bot.http is not None:
                await bot.http.stop()
            await bot.sender.close()  # first: it cannot fail, the two below can
            await bot.application.shutdown()  # a no-op unless initialize() succeeded
            await bot.application.bot.shutdown()  # closes HTTP clients a failed getMe left open


async def _listen(bot: Bot) -> None:
    """Start the HTTP server on PORT; one taken by another process stops the start (exit 2)."""
    assert bot.http is not None  # noqa: S101
    port = bot.settings.port or 0
    try:
        await bot.http.start(bot.settings.http_host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"PORT {port} is in use (another process listens there)") from None
        raise


async def _watch_shutdown(bot: Bot, stop: asyncio.Event) -> None:
    """A shutdown that overruns its budget by far is a bug: say where every task is waiting."""
    await stop.wait()
    settings = bot.settings
    await asyncio.sleep(settings.shutdown_timeout + settings.telegram_timeout + STUCK_AFTER)
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
    # Beating from first to last: while this instance drains at shutdown, the next leader must
    # see what it still holds, or it would take over entries that are being sent.
    beating = asyncio.create_task(bot.heartbeat.run(), name="Heartbeat")
    sources = [
        asyncio.create_task(source.run(), name=type(source).__name__)
        # The leader delivers (pub/sub, the streams, fan-outs: bot.cluster.duty); every
        # instance releases what is due onto the streams.
        for source in (
            bot.leadership,
            bot.send_share,
            bot.releaser,
            bot.shared_channel,  # another deployment on our channel name: said every hour
        )
        if source is not None
    ]
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await application.start()  # handles updates from the queue, whoever fills it
        await publish_menus(application.bot, bot.settings.admin_ids)
        await _announce_ready(bot, username, ready, stopping)
        await asyncio.wait({*sources, beating, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        log.info("bot_stopping", pending=bot.dispatcher.pending)
        bot.updates.stop_waiting()  # a flooded chat's backlog is not worked through now
        # Reverse order: take no new notifications (the leader stops polling and hands the
        # lock on), finish the ones in flight, then stop Telegram.
        stopping.cancel()
        for task in sources:
            task.cancel()
        await asyncio.gather(stopping, *sources, return_exceptions=True)
        # One budget for both, so SIGTERM ends within SHUTDOWN_TIMEOUT plus Telegram's goodbye.
        deadline = time.monotonic() + bot.settings.shutdown_timeout
        await bot.broadcaster.close()
        # Sends under way when the budget runs out get one Telegram timeout more: cut off in
        # flight, they would be sent again by whoever takes over.
        left = await bot.dispatcher.drain(
            max(deadline - time.monotonic(), 0.1), finishing=bot.settings.telegram_timeout
        )
        await bot.hand_back(left, "shutdown before delivery")
        bot.dispatcher.parser.close()
        await bot.fanouts.release_leases()
        beating.cancel()  # last: it says "holding nothing" by going
        await asyncio.gather(beating, return_exceptions=True)
        if application.running:
            await application.stop()
    for task in (*sources, beating):
        crash = None if task.cancelled() else task.exception()
        if crash is not None:
            raise crash


async def _announce_ready(
    bot: Bot, username: str, ready: asyncio.Event | None, stopping: asyncio.Task[Any]
) -> None:
    """Log `bot_ready` once every source listens and this instance knows whether it leads (or
    we are told to stop first). Until then Redis may still be down; the sources keep trying."""
    leadership = bot.leadership
    if not await _until(leadership.decided, stopping):
        return
    # Decided: the leader reads pub/sub and the stream. Ready means reading both, or standing
    # by (also when the lock is lost before the leader got there).
    listening = bot.listener.subscribed if bot.listener else None
    reading = [event for event in (bot.stream.ready if bot.stream else None, listening) if event]
    while leadership.is_leader and not all(event.is_set() for event in reading):
        # Only those not set yet: a set one's wait ends at once, and the loop would spin.
        waiters = {asyncio.create_task(event.wait()) for event in reading if not event.is_set()}
        try:
            await asyncio.wait(
                {*waiters, stopping}, timeout=READY_LOOK, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if stopping.done():
            return
    # Only now: Redis may have been down at start-up. Publishers read it for deep links.
    with contextlib.suppress(RedisError):
        await bot.registry.remember_bot_username(username)
    with contextlib.suppress(RedisError):
        await bot.preferences.declare(bot.settings.categories, bot.settings.digest)
    templates = bot.templating.templates if bot.templating else None
    with contextlib.suppress(RedisError):
        await manifest.declare(
            bot.redis, Notification.model_fields, templates.manifest() if templates else {}
        )
    if templates is not None:
        log.info("templates_loaded", count=len(templates), languages=sorted(templates.languages))
    log.info(
        "bot_ready",
        username=username,
        mode=bot.health.mode,
        role="leader" if leadership.is_leader else "standby",
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
    backoff = Backoff("telegram", base=1.0, cap=60.0, unavailable_event="telegram_unreachable")

    async def connect() -> None:
        try:
            await bot.application.initialize()
            if bot.webhook_mode:
                await register_webhook(bot.application.bot, bot.settings)
        except InvalidToken:
            raise ConfigError("BOT_TOKEN: rejected by Telegram (Unauthorized)") from None
        backoff.recovered()

    if not await _unless_stopped(keep_connected(connect, backoff, (NetworkError,)), stop):
        return False
    log.info("telegram_connected", username=bot.application.bot.username)
    return True


async def _migrate_schema(bot: Bot, stop: asyncio.Event) -> bool:
    """Claim the database for this bot and bring the registry's data in Redis to this
    version's schema before anything reads it, retrying while Redis is unreachable; several
    instances may do it at once. Another bot's database, or data of a newer version, stops the
    start (ConfigError). Returns False if `stop` was set first."""
    # Logged as what it is, Redis unreachable; `before` says what waits for it.
    backoff = Backoff("redis", base=0.5, cap=30.0, before="start-up (the schema check)")

    async def migrate() -> None:
        # First: another bot's database (exit 2) must not be migrated by this one.
        await claim_database(bot.redis, bot.settings.token)
        try:
            await schema.migrate(bot.redis)
        except schema.SchemaTooNew as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from None
        backoff.recovered()

    return await _unless_stopped(keep_connected(migrate, backoff, (RedisError,)), stop)


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` until it ends or `stop` is set (then it is cancelled: False). Its exception
    (a ConfigError, a crash) is raised here."""
    working = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (working, stopping):
            task.cancel()
        await asyncio.gather(working, stopping, return_exceptions=True)
    if not working.done() or working.cancelled():
        return False
    working.result()
    return True


async def _log_redis_server(bot: Bot) -> None:
    """PING at start-up and say which server we reached; a failure here is not fatal."""
    where = describe(bot.settings.redis_url)
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
