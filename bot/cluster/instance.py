"""This instance among the others of its bot: its heartbeat, its bid for the leader lock and its
share of Telegram's overall limit, each under its bot's own key (the token's numeric id) and in
its own name (STREAM_CONSUMER)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio

from bot.cluster.leader import LEADER_KEY, Lead, Leadership
from bot.cluster.liveness import INSTANCES_KEY, Heartbeat
from bot.cluster.share import SENDERS_KEY, SendShare
from bot.config.settings import Settings
from bot.store.clock import RedisClock
from bot.store.deployment import bot_id_of
from bot.telegram.pacing import Pacer


def heartbeat(
    settings: Settings, client: redis.asyncio.Redis, holding: Callable[[], int], clock: RedisClock
) -> Heartbeat:
    """Alive, and holding `holding()` notifications; each beat reads Redis's TIME into `clock`."""
    key = INSTANCES_KEY.format(bot_id=bot_id_of(settings.token))
    return Heartbeat(client, key, settings.stream_consumer, holding, clock=clock)


def leadership(settings: Settings, client: redis.asyncio.Redis, lead: Lead) -> Leadership:
    """Polling needs one poller per token, pub/sub one reader per channel, and each user's
    order and each chat's pace one sender: the lock holder does all of it (`lead`)."""
    key = LEADER_KEY.format(bot_id=bot_id_of(settings.token))
    return Leadership(
        client, key, settings.stream_consumer, lead, ttl=settings.leader_lock_ttl_seconds
    )


def send_share(
    settings: Settings,
    client: redis.asyncio.Redis,
    pacer: Pacer,
    *,
    busy: Callable[[], bool],
    activity: asyncio.Event,
) -> SendShare:
    """Instances delivering side by side split Telegram's overall limit between them."""
    key = SENDERS_KEY.format(bot_id=bot_id_of(settings.token))
    return SendShare(client, key, settings.stream_consumer, pacer, busy=busy, activity=activity)
