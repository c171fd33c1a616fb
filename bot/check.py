"""`python -m bot check`: what an operator runs first after deploying. One line per check."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
from redis.exceptions import RedisError
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot import redis_client
from bot.redis_client import as_text
from config.settings import ConfigError, Settings, load_settings


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
            checks.append(await _subscribers(client, settings))
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
    bot = Bot(settings.token, base_url=settings.telegram_base_url)
    started = time.perf_counter()
    try:
        async with bot:  # getMe
            latency = (time.perf_counter() - started) * 1000
            return Check("telegram", ok=True, detail=f"@{bot.username}, getMe {latency:.0f} ms")
    except InvalidToken:
        return Check("telegram", ok=False, detail="BOT_TOKEN was rejected (Unauthorized)")
    except TelegramError as exc:
        return Check("telegram", ok=False, detail=f"unreachable: {exc.message}")


async def _subscribers(client: redis.asyncio.Redis, settings: Settings) -> Check:
    """How many bots listen now: 0 means notifications published now are lost (pub/sub) or
    wait (stream); more than 1 on the channel means each is sent more than once."""
    details, ok = [], True
    if settings.notification_channel:
        [(_name, count)] = await client.pubsub_numsub(settings.notification_channel)
        note = " (is the bot running?)" if count == 0 else ""
        details.append(f"{count} subscriber{'s' if count != 1 else ''} on the channel{note}")
        ok = ok and count <= 1
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
    return Check("listeners", ok=ok, detail="; ".join(details) + ("" if ok else " (duplicates!)"))
