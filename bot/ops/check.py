"""`python -m bot check`: what an operator runs first after deploying. One line per check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio
from redis.exceptions import RedisError
from telegram import WebhookInfo
from telegram.error import InvalidToken, TelegramError

from bot.cluster.leader import LEADER_KEY
from bot.config.settings import ConfigError, Settings, load_settings
from bot.sources.presence import other_deployments, own_channel_hint
from bot.store import client as redis_client
from bot.store.client import as_text
from bot.store.deployment import bot_id_of, database_number, mark
from bot.telegram.proxy import one_off_bot

RECENT = 600  # seconds: a webhook error older than this is history, not the state


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<10} {self.detail}"


async def run_checks(
    load: Callable[[], Settings] = lambda: load_settings(require_token=True),
) -> list[Check]:
    """Configuration, Redis, Telegram and the listeners on the channel, in that order; a later
    check that cannot run because an earlier one failed is reported as failed too."""
    try:
        settings = load()
    except ConfigError as exc:
        return [Check("config", ok=False, detail=str(exc))]
    checks = [Check("config", ok=True, detail=_sources(settings))]
    client = redis_client.async_client(settings.redis_url, settings.redis_ssl_cert_reqs)
    async with client:
        checks.append(await _redis(client, settings))
        checks.append(await _telegram(settings))
        if checks[1].ok:
            shared = await _shared_channel(client, settings)
            others = len(shared[1])
            checks.append(await _subscribers(client, settings, others))
            if shared[0] is not None:
                checks.append(shared[0])
    return checks


def _sources(settings: Settings) -> str:
    parts = []
    if settings.notification_channel:
        parts.append(f"channel {settings.notification_channel!r}")
    if settings.notification_stream:
        parts.append(f"stream {settings.notification_stream!r}")
    admins = len(settings.admin_ids)
    return f"{' and '.join(parts)}; {admins} admin{'s' if admins != 1 else ''}"


async def _redis(client: redis.asyncio.Redis, settings: Settings) -> Check:
    where = redis_client.describe(settings.redis_url)
    started = time.perf_counter()
    try:
        await client.ping()
        latency = (time.perf_counter() - started) * 1000
        info = await client.info("server")
    except RedisError as exc:
        return Check("redis", ok=False, detail=f"{where}: {exc}")
    return Check(
        "redis",
        ok=True,
        detail=f"{where}, Redis {info.get('redis_version')}, PING {latency:.1f} ms",
    )


async def _telegram(settings: Settings) -> Check:
    bot = one_off_bot(settings.token, settings.telegram_base_url, settings.proxy)
    started = time.perf_counter()
    try:
        async with bot:  # getMe
            latency = (time.perf_counter() - started) * 1000
            detail = f"@{bot.username}, getMe {latency:.0f} ms"
            hook = await bot.get_webhook_info()
    except InvalidToken:
        return Check("telegram", ok=False, detail="BOT_TOKEN: rejected (Unauthorized)")
    except TelegramError as exc:
        return Check("telegram", ok=False, detail=f"unreachable: {exc.message}")
    ok, webhook = _webhook_state(settings, hook)
    return Check("telegram", ok=ok, detail=f"{detail}; {webhook}")


def _webhook_state(settings: Settings, hook: WebhookInfo) -> tuple[bool, str]:
    """What Telegram says of the webhook, against what the settings ask for."""
    if not settings.webhook_url:
        if hook.url:
            return True, f"a webhook is set ({hook.url}): the bot deletes it when it polls"
        return True, "polling"
    if hook.url != settings.webhook_url:
        return True, "webhook not registered yet (each web process registers it at start)"
    error_at = hook.last_error_date
    if error_at is not None and (datetime.now(UTC) - error_at).total_seconds() < RECENT:
        return (
            False,
            f"webhook registered, but Telegram failed to call it: {hook.last_error_message}",
        )
    return True, f"webhook registered, {hook.pending_update_count} updates waiting"


async def _subscribers(client: redis.asyncio.Redis, settings: Settings, others: int) -> Check:
    """How many bots listen now: 0 means notifications published now are lost (pub/sub) or
    wait (stream); more than 1 of this deployment on the channel means each is sent more than
    once. `others`: listeners of other deployments on the server (the channel check's)."""
    details, ok = [], True
    if settings.notification_channel:
        [(_name, count)] = await client.pubsub_numsub(settings.notification_channel)
        note = " (is the bot running?)" if count - others <= 0 else ""
        if others:
            note += f" ({others} of other deployments)"
        details.append(f"{count} subscriber{'s' if count != 1 else ''} on the channel{note}")
        ok = ok and count - others <= 1
    if settings.notification_stream:
        try:
            groups = await client.xinfo_groups(settings.notification_stream)
        except RedisError:
            groups = []
        group = next((g for g in groups if as_text(g["name"]) == settings.stream_group), None)
        if group is None:
            details.append("stream group not created yet (the bot creates it)")
        else:
            details.append(
                f"stream: {group['consumers']} consumers, {group['pending']} pending, "
                f"lag {group.get('lag')}"
            )
    holder = await client.get(LEADER_KEY.format(bot_id=settings.token.split(":", 1)[0]))
    if holder is not None:
        details.append(f"leader {as_text(holder).rsplit(':', 1)[0]}")
    elif settings.notification_channel or not settings.webhook_url:
        details.append("no leader: nothing polls Telegram or reads the channel")
    return Check("listeners", ok=ok, detail="; ".join(details) + ("" if ok else " (duplicates!)"))


async def _shared_channel(
    client: redis.asyncio.Redis, settings: Settings
) -> tuple[Check | None, tuple[str, ...]]:
    """The other deployments listening on the channel name, and the check that says so (None
    without a channel). Channels are server-wide: a bot on another database of this server
    listening on the same name receives (and delivers, to its own users) every raw PUBLISH
    meant for this one, and this one receives its."""
    channel = settings.notification_channel
    if not channel:
        return None, ()
    mine = mark(bot_id_of(settings.token), database_number(client))
    try:
        others = await other_deployments(client, channel, mine)
    except RedisError as exc:
        return Check("channel", ok=False, detail=f"cannot list the channels: {exc}"), ()
    if not others:
        return Check("channel", ok=True, detail=f"{channel!r}: no other deployment on it"), ()
    return Check(
        "channel",
        ok=False,
        detail=f"{channel!r} is shared with {', '.join(others)} (bot id/db) on this Redis "
        f"server: each gets what is published for the others; {own_channel_hint(channel, mine)}",
    ), others
