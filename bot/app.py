"""Wiring: build every piece from the settings and connect them, in one place. Nothing talks to
Redis or Telegram until `runtime.serve` starts it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import redis.asyncio
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application, ApplicationBuilder

from bot.chat.actions import ButtonTaps
from bot.chat.admin import AdminCommands
from bot.chat.broadcast import Broadcaster
from bot.chat.linking import Linker
from bot.chat.per_chat import PerChatUpdates
from bot.chat.preferences import ChatPreferences
from bot.chat.throttle import CommandBudget
from bot.chat.user import ChatCommands
from bot.cluster.duty import Duty
from bot.cluster.leader import LEADER_KEY, Leadership
from bot.cluster.liveness import INSTANCES_KEY, Heartbeat
from bot.cluster.share import SENDERS_KEY, SendShare
from bot.config.settings import Settings
from bot.loops.reconnect import Outage
from bot.ops.health import Health
from bot.ops.http import HttpServer, Webhook
from bot.ops.metrics import Metrics
from bot.ops.shared_channel import SharedChannelWatch
from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.envelope import PUBSUB, STREAM
from bot.pipeline.fanout import STORED_MAX_CHARS, FanOuts
from bot.pipeline.handback import HandBack
from bot.pipeline.plan import Planner
from bot.pipeline.settle import Settler
from bot.sources.due import DueReleaser
from bot.sources.pubsub import CONNECTION_ERRORS, RedisListener
from bot.sources.stream import StreamConsumer
from bot.store.actions import ActionStore
from bot.store.client import async_client, priority_streams
from bot.store.clock import RedisClock
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.fanouts import FanOutStore
from bot.store.link_events import LinkEvents
from bot.store.preferences import PreferenceStore
from bot.store.registry import ChatRegistry
from bot.store.roundtrips import RoundTrips
from bot.store.schedule import ScheduleStore
from bot.telegram.delivery import Delivery
from bot.telegram.pacing import REPLY_MAX_WAIT, Limits, PacedRequests, Pacer
from bot.telegram.policy import RetryPolicy
from bot.telegram.relay import Relay
from bot.telegram.sender import Sender
from bot.telegram.transport import ObservedRequest, polling_request, sending_request
from bot.telegram.updates import POLL_TIMEOUT, PollErrors, webhook_path

# What a lane waits out: Redis unreachable, or up but refusing writes for now (a replica after
# a failover, out of memory). Other errors are bugs or misuse, and are not retried forever.
REDIS_WAIT_ERRORS = (*CONNECTION_ERRORS, ReadOnlyError, OutOfMemoryError, MasterDownError)
CONCURRENT_UPDATES = 16  # replies on their way to Telegram at once, about (see _application)
# A relayed reply waits at most REPLY_MAX_WAIT for its chat's turn at the leader, then its send.
RELAY_PACING_ALLOWANCE = REPLY_MAX_WAIT + 5.0


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
    pacer = Pacer(_limits(settings))
    # Replies to the updates handled side by side, and a few more (deliveries have theirs).
    conversation = sending_request(metrics, CONCURRENT_UPDATES + 8, settings.telegram_timeout)
    paced, updates = PacedRequests(pacer), PerChatUpdates()
    application = _application(settings, metrics, conversation, paced, updates)
    registry = ChatRegistry(
        client,
        LinkEvents(settings.link_events_stream, settings.stream_maxlen),
        max_chats=settings.max_chats_per_user,
    )
    # Shared by every lane: while Redis is down one of them probes it and the others wait.
    redis_outage = Outage("redis_lanes", client.ping, REDIS_WAIT_ERRORS)
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
    )
    delivery = _delivery(settings, sender, pacer)
    actions = ActionStore(
        client,
        ttl=settings.action_ttl_seconds,
        stream=settings.actions_stream,
        maxlen=settings.stream_maxlen,
    )
    schedule = _schedule(settings, client) if settings.notification_stream else None
    preferences = PreferenceStore(client)
    dispatcher = _pipeline(
        settings,
        RoundTrips(exact),
        delivery,
        redis_outage,
        actions,
        registry=registry,
        schedule=schedule,
        planner=Planner(settings.categories, settings.digest, schedule=schedule),
        stats=stats,
        dead_letters=dead_letters,
        metrics=metrics,
    )
    streams: list[StreamConsumer] = []

    def holding() -> int:
        # Queued in lanes, and stream entries read but not settled (one being parsed counts).
        return dispatcher.pending + sum(consumer.holding for consumer in streams)

    heartbeat = Heartbeat(
        client,
        INSTANCES_KEY.format(bot_id=_bot_id(settings)),
        settings.stream_consumer,
        holding,
        clock=dispatcher.clock,  # each beat reads Redis's TIME: what is due goes by it
    )
    listener = _listener(settings, client, dispatcher, metrics)
    shared_channel = None
    if settings.notification_channel:
        shared_channel = SharedChannelWatch(
            client, settings.notification_channel, _bot_id(settings)
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
    streams.extend(_streams(settings, exact, dispatcher, metrics, duty))
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
    leadership = _leadership(settings, client, duty, metrics)
    if settings.webhook_url:
        _relay(
            settings,
            exact,
            pacer=pacer,
            application=application,
            conversation=conversation,
            paced=paced,
            leadership=leadership,
            duty=duty,
        )
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
        preferences, settings.categories, settings.digest, later=schedule is not None
    )
    _handlers(
        settings,
        application,
        admin=admin,
        registry=registry,
        actions=actions,
        preferences=chat_preferences,
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
        send_share=_send_share(settings, client, pacer, dispatcher),
        heartbeat=heartbeat,
        hand_back=hand_back,
        shared_channel=shared_channel,
        leadership=leadership,
        broadcaster=broadcaster,
        admin=admin,
        health=health,
        http=_http(settings, application, health, metrics),
    )


def _handlers(
    settings: Settings,
    application: Application,  # type: ignore[type-arg]
    *,
    admin: AdminCommands,
    registry: ChatRegistry,
    actions: ActionStore,
    preferences: ChatPreferences,
) -> None:
    """A user's message budget first (group -1), then the admin handlers: the chat commands
    end with a catch-all for unknown messages. Taps on buttons count against the budget too.
    Replies are in the language the chat's user picked, else Telegram's."""
    chosen = preferences.store.language_for_chat
    budget = CommandBudget(
        settings.command_burst,
        settings.command_per_minute,
        exempt=settings.admin_ids,
        chosen_language=chosen,
    )
    budget.register(application)
    admin.register(application)
    ButtonTaps(actions, chosen_language=chosen).register(application)
    preferences.register(application)
    Linker(registry, chosen_language=chosen).register(application)
    ChatCommands(chosen_language=chosen).register(application)


def _relay(
    settings: Settings,
    exact: redis.asyncio.Redis,
    *,
    pacer: Pacer,
    application: Application,  # type: ignore[type-arg]
    conversation: ObservedRequest,
    paced: PacedRequests,
    leadership: Leadership,
    duty: Duty,
) -> None:
    """Webhook mode: any instance handles the updates it is given; its messages to a chat take
    their turn at the leader's pacer, beside the notifications (relay.py)."""
    base_url = application.bot.base_url  # with the token, as python-telegram-bot builds it
    relay = Relay(
        exact,  # a request pushed twice after a lost answer would be answered twice
        _bot_id(settings),
        pacer,
        lambda method, data: conversation.direct(f"{base_url}/{method}", "POST", data),
        leading=lambda: leadership.is_leader,
        answer_within=settings.telegram_timeout + RELAY_PACING_ALLOWANCE,
    )
    conversation.relay = relay
    paced.relayed = lambda: not leadership.is_leader  # the leader paces it
    duty.loops.append(relay.serve)


def _limits(settings: Settings) -> Limits:
    return Limits(
        per_second=settings.overall_per_second,
        chat_burst=settings.telegram_chat_burst,
        chat_per_second=settings.telegram_chat_per_second,
        group_per_minute=settings.telegram_group_per_minute,
    )


def _application(
    settings: Settings,
    metrics: Metrics,
    conversation: ObservedRequest,
    paced: PacedRequests,
    updates: PerChatUpdates,
) -> Application:  # type: ignore[type-arg]
    timeout = settings.telegram_timeout
    return (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_base_url)
        .request(conversation)
        # Long polling keeps httpx's own transport: one request at a time, no pool to speak of.
        .get_updates_request(polling_request(metrics, POLL_TIMEOUT, timeout))
        # Every request to a chat (deliveries, replies, broadcast progress) is paced.
        .rate_limiter(paced)
        # Updates are handled side by side, one chat at a time (per_chat.py): an admin's /send
        # waiting for its outcome, or a group's replies waiting for their pace, must not hold
        # up everyone's /start.
        .concurrent_updates(updates)
        .build()
    )


def _delivery(settings: Settings, sender: Sender, pacer: Pacer) -> Delivery:
    retry = RetryPolicy(
        settings.delivery_max_attempts, settings.delivery_retry_base, settings.delivery_retry_max
    )
    # Shared by every send: while Telegram is unreachable, one getMe probes it, nobody sends.
    # A rejected token (InvalidToken) is waited out the same way, without a deadline.
    telegram = Outage("telegram_sending", sender.get_me, (NetworkError, InvalidToken), cap=10.0)
    return Delivery(
        sender,
        pacer,
        retry,
        telegram=telegram,
        outage_max=settings.telegram_outage_max_seconds,
        paid_broadcast=settings.telegram_paid_broadcast,
    )


def _pipeline(
    settings: Settings,
    trips: RoundTrips,
    delivery: Delivery,
    redis_outage: Outage,
    actions: ActionStore,
    *,
    registry: ChatRegistry,
    schedule: ScheduleStore | None,
    planner: Planner,
    stats: Stats,
    dead_letters: DeadLetterStore,
    metrics: Metrics,
) -> Dispatcher:
    # One queue of trips for the reads before sends and the writes after them: measured, two
    # queues (two connections) made a send's read no faster, the event loop being the wait.
    settler = Settler(
        trips,
        stats,
        dead_letters,
        registry=registry,
        redis=redis_outage,
        idempotency_window=settings.idempotency_window_seconds,
        memory_seconds=settings.message_memory_seconds,
        receipt_channel=settings.receipt_channel,
        on_sent=metrics.delivery_latency.observe,
    )
    # What is due, quiet or expired goes by Redis's clock (each heartbeat measures it).
    clock = RedisClock()
    planner.clock = clock.now
    return Dispatcher(
        delivery.deliver,
        settler,
        stats,
        settings.delivery_concurrency,
        trips=trips,
        redis=redis_outage,
        actions=actions,
        schedule=schedule,
        planner=planner,
        pause_buffer=settings.pause_buffer_max,
        max_chars=settings.message_max_chars,
        clock=clock,
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


def _streams(
    settings: Settings,
    client: redis.asyncio.Redis,
    dispatcher: Dispatcher,
    metrics: Metrics,
    duty: Duty,
) -> list[StreamConsumer]:
    if not settings.notification_stream:
        return []
    # One consumer per priority: each has its own in-flight limit, so a bulk backlog read
    # into memory never stops a high notification from being read. The normal one (the name a
    # web app XADDs to) moves entries that name another priority to that priority's stream.
    names = priority_streams(settings.notification_stream)
    return [
        StreamConsumer(
            client,
            name,
            settings.stream_group,
            settings.stream_consumer,
            dispatcher.accept,
            may_take=duty.may_take,
            on_reconnect=metrics.redis_reconnects.labels(STREAM).inc,
            rank=rank,
            moves=names if rank == 1 else None,
            maxlen=settings.stream_maxlen,
        )
        for rank, name in enumerate(names)
    ]


def _schedule(settings: Settings, client: redis.asyncio.Redis) -> ScheduleStore:
    return ScheduleStore(
        client, priority_streams(settings.notification_stream), settings.stream_maxlen
    )


def _leadership(
    settings: Settings, client: redis.asyncio.Redis, duty: Duty, metrics: Metrics
) -> Leadership:
    """Polling needs one poller per token, pub/sub one reader per channel, and each user's
    order and each chat's pace one sender: the lock holder does all of it."""
    leadership = Leadership(
        client,
        LEADER_KEY.format(bot_id=_bot_id(settings)),
        settings.stream_consumer,
        duty.lead,
        ttl=settings.leader_lock_ttl_seconds,
    )
    metrics.leader.set_function(lambda: float(leadership.is_leader))
    return leadership


def _send_share(
    settings: Settings, client: redis.asyncio.Redis, pacer: Pacer, dispatcher: Dispatcher
) -> SendShare:
    """Instances delivering side by side split Telegram's overall limit between them."""
    return SendShare(
        client,
        SENDERS_KEY.format(bot_id=_bot_id(settings)),
        settings.stream_consumer,
        pacer,
        busy=lambda: dispatcher.pending > 0,
        activity=dispatcher.activity,
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


def _bot_id(settings: Settings) -> str:
    return settings.token.split(":", 1)[0]
