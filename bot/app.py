"""Wiring: build every piece from the settings and connect them, in one place; a piece that takes
some putting together is made beside its parts (the Application in telegram/application.py, the
lanes in pipeline/assembly.py, the handlers in chat/handlers.py). Nothing talks to Redis or
Telegram until `runtime.serve` starts it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import redis.asyncio
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.chat.admin import AdminCommands
from bot.chat.broadcast import Broadcaster
from bot.chat.feedback import ChatFeedback
from bot.chat.handlers import register_handlers
from bot.chat.per_chat import PerChatUpdates
from bot.chat.preferences import ChatPreferences
from bot.cluster import instance
from bot.cluster.duty import Duty
from bot.cluster.leader import Leadership
from bot.cluster.liveness import Heartbeat
from bot.cluster.share import SendShare
from bot.config.settings import ConfigError, Settings
from bot.loops.reconnect import Outage
from bot.ops.flood import ObservedPacer
from bot.ops.health import Health
from bot.ops.http import HttpServer, Webhook
from bot.ops.metrics import Metrics
from bot.ops.shared_channel import SharedChannelWatch
from bot.pipeline.assembly import build_lanes
from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.envelope import PUBSUB, STREAM
from bot.pipeline.fanout import STORED_MAX_CHARS, FanOuts
from bot.pipeline.handback import HandBack
from bot.pipeline.templating import Templating
from bot.sources.due import DueReleaser
from bot.sources.priorities import priority_consumers
from bot.sources.pubsub import RedisListener
from bot.sources.stream import StreamConsumer
from bot.store.actions import ActionStore
from bot.store.client import async_client, priority_streams
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.deployment import bot_id_of
from bot.store.fanouts import FanOutStore
from bot.store.feedback import FeedbackStore
from bot.store.languages import LanguageStore
from bot.store.link_events import LinkEvents
from bot.store.preferences import PreferenceStore
from bot.store.registry import ChatRegistry
from bot.store.schedule import ScheduleStore
from bot.telegram.application import new_conversation, relay_to_leader
from bot.telegram.delivery import Delivery
from bot.telegram.pacing import Limits, Pacer
from bot.telegram.policy import RetryPolicy
from bot.telegram.sender import Sender
from bot.telegram.updates import PollErrors, webhook_path
from bot.templates.files import TemplateFileError, load_templates


@dataclass(kw_only=True)
class Bot:
    """Everything `build` makes, exposed so tests and benchmarks can look inside."""

    settings: Settings
    exact: redis.asyncio.Redis  # never retries on its own (settling, the streams)
    redis: redis.asyncio.Redis
    registry: ChatRegistry
    preferences: PreferenceStore
    application: Application  # type: ignore[type-arg]
    updates: PerChatUpdates  # how the application's updates are handled, one chat at a time
    sender: Sender  # deliveries' own Bot API client (the application's is for the conversation)
    stats: Stats
    metrics: Metrics
    dead_letters: DeadLetterStore
    dispatcher: Dispatcher
    listener: RedisListener | None
    stream: StreamConsumer | None  # the normal-priority stream's
    streams: list[StreamConsumer]  # high, normal and bulk
    releaser: DueReleaser | None  # scheduled notifications (needs the streams)
    fanouts: FanOuts
    send_share: SendShare
    heartbeat: Heartbeat  # this instance is alive, and what it holds
    hand_back: HandBack  # what deliveries cut short leave: pub/sub ones onto the stream
    shared_channel: SharedChannelWatch | None  # other deployments on the channel's name
    # The lock whose holder polls Telegram and delivers (reads pub/sub and the streams).
    leadership: Leadership
    broadcaster: Broadcaster
    admin: AdminCommands
    health: Health
    http: HttpServer | None  # when PORT is set
    templating: Templating | None  # when TEMPLATES_DIR is set

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.webhook_url)


def build(settings: Settings) -> Bot:
    """Create and wire the pieces; nothing connects yet."""
    # Deliveries share round trips (a connection or two); a lane updating a link after a 403 or
    # a migration uses one of its own; and the sources and command handlers theirs.
    client = async_client(
        settings.redis_url,
        settings.redis_ssl_cert_reqs,
        max_connections=settings.delivery_concurrency + 16,
    )
    # What must happen once (settling, moving an entry) and reading the streams, where
    # redis-py's own retry after a lost answer would write twice or skip what was read.
    exact = async_client(
        settings.redis_url, settings.redis_ssl_cert_reqs, max_connections=32, retries=0
    )
    stats = Stats()
    metrics = Metrics(stats)
    pacer = ObservedPacer(_limits(settings), metrics)  # a Pacer that /metrics sees pause
    updates = PerChatUpdates()
    conversation = new_conversation(settings, metrics, pacer, updates)
    application = conversation.application
    registry = ChatRegistry(
        client,
        LinkEvents(settings.link_events_stream, settings.stream_maxlen),
        max_chats=settings.max_chats_per_user,
    )
    dead_letters = DeadLetterStore(
        client, settings.deadletter_maxlen, settings.deadletter_max_payload_bytes
    )
    sender = Sender(
        application.bot.base_url,
        settings.token,
        pacer,
        metrics,
        connections=settings.delivery_concurrency + 8,
        timeout=settings.telegram_timeout,
        proxy=settings.proxy,
    )
    delivery = _delivery(settings, sender, pacer, metrics)
    actions = ActionStore(
        client,
        ttl=settings.action_ttl_seconds,
        stream=settings.actions_stream,
        maxlen=settings.stream_maxlen,
    )
    feedback = FeedbackStore(
        client,
        stream=settings.feedback_stream,
        maxlen=settings.feedback_maxlen,
        receipt_channel=settings.receipt_channel,
        memory_seconds=settings.message_memory_seconds,
    )
    schedule = _schedule(settings, client) if settings.notification_stream else None
    preferences = PreferenceStore(client)
    templating = _templating(settings, metrics)
    dispatcher = build_lanes(
        settings,
        delivery.deliver,
        client=client,
        exact=exact,
        actions=actions,
        registry=registry,
        schedule=schedule,
        stats=stats,
        dead_letters=dead_letters,
        on_sent=metrics.delivery_latency.observe,
        templating=templating,
        feedback=feedback,
    )
    streams: list[StreamConsumer] = []

    def holding() -> int:
        # Queued in lanes, and stream entries read but not settled (one being parsed counts).
        return dispatcher.pending + sum(consumer.holding for consumer in streams)

    # Each beat reads Redis's TIME into the dispatcher's clock: what is due goes by it.
    heartbeat = instance.heartbeat(settings, client, holding, dispatcher.clock)
    listener = _listener(settings, client, dispatcher, metrics)
    shared_channel = (  # other deployments on the channel's name (pub/sub ignores the database)
        SharedChannelWatch(client, settings.notification_channel, bot_id_of(settings.token))
        if settings.notification_channel
        else None
    )
    updater = application.updater
    assert updater is not None  # ApplicationBuilder always makes one  # noqa: S101
    hand_back = HandBack(client, settings.notification_stream, settings.stream_maxlen, dead_letters)
    duty = Duty(
        updater=updater,
        poll_errors=PollErrors(),
        polling=not settings.webhook_url,
        dispatcher=dispatcher,
        heartbeat=heartbeat,
        hand_back=hand_back,
        listener=listener,
    )
    streams.extend(
        priority_consumers(
            settings,
            exact,
            dispatcher.accept,
            may_take=duty.may_take,
            on_reconnect=metrics.redis_reconnects.labels(STREAM).inc,
        )
    )
    stream = streams[1] if streams else None
    releaser = None
    if schedule is not None:
        releaser = DueReleaser(schedule)
        dispatcher.on_hold = releaser.wake.set
    fanout_store = FanOutStore(client, settings.stream_consumer)
    fanouts = FanOuts(
        fanout_store,
        registry,
        dispatcher.accept,
        receipt_channel=settings.receipt_channel,
        window=min(256, 2 * settings.delivery_concurrency),
        parse=functools.partial(dispatcher.parser.parse, max_chars=STORED_MAX_CHARS),
        clock=dispatcher.clock.now,  # what its recipients' ttl counts from
    )
    dispatcher.start_fan_out = fanouts.start
    fanouts.may_take = duty.may_take
    duty.loops.extend([*(consumer.run for consumer in streams), fanouts.run])
    leadership = instance.leadership(settings, client, duty.lead)
    _export(metrics, dispatcher, leadership)
    if settings.webhook_url:
        relay = relay_to_leader(
            conversation,
            exact,  # a request pushed twice after a lost answer would be answered twice
            bot_id_of(settings.token),
            leading=lambda: leadership.is_leader,
            timeout=settings.telegram_timeout,
        )
        duty.loops.append(relay.serve)
    for consumer in streams:
        consumer.may_read = leadership.surely_held
    broadcaster = Broadcaster(application.bot, fanouts, fanout_store, registry)
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
        schedule=schedule,
        chosen_language=preferences.language_for_chat,
    )
    chat_preferences = ChatPreferences(
        preferences,
        settings.categories,
        settings.digest,
        later=schedule is not None,
        languages=templating.templates.languages if templating else (),
        default_language=settings.default_language,
    )
    register_handlers(
        application,
        settings,
        admin=admin,
        registry=registry,
        actions=actions,
        preferences=chat_preferences,
        languages=LanguageStore(client),
        feedback=ChatFeedback(feedback, stats),
    )
    health = Health(
        client=client,
        stats=stats,
        metrics=metrics,
        dispatcher=dispatcher,
        leadership=leadership,
        mode="webhook" if settings.webhook_url else "polling",
        stream=settings.notification_stream,
        group=settings.stream_group,
        listener=listener,
        consumer=stream,
        shared_channel=shared_channel,
        heartbeat=heartbeat,
    )
    return Bot(
        settings=settings,
        redis=client,
        exact=exact,
        registry=registry,
        preferences=preferences,
        application=application,
        updates=updates,
        sender=sender,
        stats=stats,
        metrics=metrics,
        dead_letters=dead_letters,
        dispatcher=dispatcher,
        listener=listener,
        stream=stream,
        streams=streams,
        releaser=releaser,
        fanouts=fanouts,
        send_share=_send_share(settings, client, pacer, dispatcher, metrics),
        heartbeat=heartbeat,
        hand_back=hand_back,
        shared_channel=shared_channel,
        leadership=leadership,
        broadcaster=broadcaster,
        admin=admin,
        health=health,
        http=_http(settings, application, health, metrics),
        templating=templating,
    )


def _export(metrics: Metrics, dispatcher: Dispatcher, leadership: Leadership) -> None:
    """What /metrics reads from the running pieces when it is scraped."""
    metrics.leader.set_function(lambda: float(leadership.is_leader))
    metrics.watch_outage("redis", dispatcher.redis)


def _send_share(
    settings: Settings,
    client: redis.asyncio.Redis,
    pacer: Pacer,
    dispatcher: Dispatcher,
    metrics: Metrics,
) -> SendShare:
    """This instance's share of Telegram's overall limit, and its gauge."""
    share = instance.send_share(
        settings,
        client,
        pacer,
        busy=lambda: dispatcher.pending > 0,
        activity=dispatcher.activity,
    )
    metrics.send_share.set_function(lambda: float(max(share.senders, 1)))
    return share


def _templating(settings: Settings, metrics: Metrics) -> Templating | None:
    """TEMPLATES_DIR's templates, checked (ConfigError naming file, language and line)."""
    if settings.templates_dir is None:
        return None
    try:
        templates = load_templates(settings.templates_dir)
    except TemplateFileError as exc:
        raise ConfigError(f"TEMPLATES_DIR: {exc}") from None
    return Templating(
        templates,
        default_language=settings.default_language,
        max_chars=settings.message_max_chars,
        on_render=metrics.template_renders.inc,
    )


def _limits(settings: Settings) -> Limits:
    return Limits(
        per_second=settings.overall_per_second,
        chat_burst=settings.telegram_chat_burst,
        chat_per_second=settings.telegram_chat_per_second,
        group_per_minute=settings.telegram_group_per_minute,
    )


def _delivery(settings: Settings, sender: Sender, pacer: Pacer, metrics: Metrics) -> Delivery:
    retry = RetryPolicy(
        settings.delivery_max_attempts, settings.delivery_retry_base, settings.delivery_retry_max
    )
    # Shared by every send: while Telegram is unreachable, one getMe probes it, nobody sends.
    # A rejected token (InvalidToken) is waited out the same way, without a deadline.
    telegram = Outage("telegram_sending", sender.get_me, (NetworkError, InvalidToken), cap=10.0)
    metrics.watch_outage("telegram", telegram)
    return Delivery(
        sender,
        pacer,
        retry,
        telegram=telegram,
        outage_max=settings.telegram_outage_max_seconds,
        paid_broadcast=settings.telegram_paid_broadcast,
    )


def _listener(
    settings: Settings, client: redis.asyncio.Redis, dispatcher: Dispatcher, metrics: Metrics
) -> RedisListener | None:
    if not settings.notification_channel:
        return None
    return RedisListener(
        client,
        settings.notification_channel,
        dispatcher.accept,
        on_reconnect=metrics.redis_reconnects.labels(PUBSUB).inc,
        on_foreign=metrics.foreign.inc,
    )


def _schedule(settings: Settings, client: redis.asyncio.Redis) -> ScheduleStore:
    return ScheduleStore(
        client, priority_streams(settings.notification_stream), settings.stream_maxlen
    )


def _http(
    settings: Settings,
    application: Application,  # type: ignore[type-arg]
    health: Health,
    metrics: Metrics,
) -> HttpServer | None:
    if settings.port is None:
        return None
    webhook = None
    if settings.webhook_url:
        webhook = Webhook(application, webhook_path(settings), settings.webhook_secret_token)
    return HttpServer(health, metrics, webhook)
