"""The bench's row for users' preferences: the bot's CPU per notification when every user has
preferences stored (read with the chat lookup, parsed, decided on) next to when nobody has, in
one bot process, alternating bursts, the least of each counting."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from bot.store.preferences import PREFERENCES
from bot.testing import FakeTelegram
from bot.tools.bench.kit import LIFTED, BotProcess, bot_env

CATEGORIES = "orders:Order updates,news:News and offers,security:Security alerts!"
CHUNK = 10_000


@dataclass
class PreferenceFigures:
    count: int = 0
    users: int = 0
    without_ms: float | None = None  # CPU per notification, nobody has preferences
    with_ms: float | None = None  # every user has some (none of which stops the send)


def measure_preferences(
    telegram: FakeTelegram,
    client: redis.Redis,
    url: str,
    *,
    count: int,
    users: int,
    bursts: int,
    latency_ms: float,
    then: Callable[[BotProcess, str], None] | None = None,
) -> PreferenceFigures:
    """`count` notifications of a declared category to `users` users, limits lifted, with the
    API latency of the other lifted bursts, with and without preferences for every one of them
    (a muted category that is not this one, quiet hours that are not now, a time zone and a
    language: all of the decision runs). Without latency the sends come back at once and the
    lanes' round trips batch differently from burst to burst: measured, -6 % to +18 %.
    `then` measures more with the same bot (and its channel) before it stops: a bot's start
    is a second or two of the bench's smoke test."""
    figures = PreferenceFigures(count=count, users=users)
    channel = f"bench-prefs-{uuid.uuid4().hex[:8]}"
    env = bot_env(telegram, url, channel, CATEGORIES=CATEGORIES, **LIFTED)
    bot = BotProcess(["-m", "bot"], env, '"event": "bot_ready"')
    stored = _preferences_not_now()
    telegram.latency = latency_ms / 1000
    try:
        for _ in range(bursts):
            for with_preferences in (False, True):
                if with_preferences:
                    _store(client, users, stored)
                else:
                    client.delete(PREFERENCES)
                cpu = bot.cpu_seconds()
                _burst(telegram, client, channel, count, users)
                cpu_ms = 1000 * (bot.cpu_seconds() - cpu) / count
                if with_preferences:
                    figures.with_ms = min(cpu_ms, figures.with_ms or cpu_ms)
                else:
                    figures.without_ms = min(cpu_ms, figures.without_ms or cpu_ms)
        client.delete(PREFERENCES)
        if then is not None:
            then(bot, channel)
    finally:
        telegram.latency = 0.0
        bot.stop()
        client.delete(PREFERENCES)
    return figures


def _preferences_not_now() -> str:
    """Preferences whose quiet hours lie ahead (the notifications are sent, with a sound)."""
    zone_now = datetime.now(UTC)
    start, end = zone_now + timedelta(hours=2), zone_now + timedelta(hours=4)
    return json.dumps(
        {
            "muted": ["news"],
            "quiet": f"{start:%H:%M}-{end:%H:%M}",
            "timezone": "UTC",
            "language": "de",
        }
    )


def _store(client: redis.Redis, users: int, stored: str) -> None:
    for start in range(1, users + 1, CHUNK):
        chunk = range(start, min(start + CHUNK, users + 1))
        client.hset(PREFERENCES, mapping={str(user): stored for user in chunk})


def _burst(
    telegram: FakeTelegram, client: redis.Redis, channel: str, count: int, users: int
) -> None:
    tag = uuid.uuid4().hex[:6]
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        payload = {"user_id": n % users + 1, "message": f"pref {tag} {n}", "category": "orders"}
        pipe.publish(channel, json.dumps(payload))
    pipe.execute()
    telegram.wait_for_sent(
        lambda m: m.text.startswith(f"pref {tag} "), count=count, timeout=60 + count / 5
    )


def preference_lines(figures: dict[str, object]) -> list[str]:
    without, with_ = figures["without_ms"], figures["with_ms"]
    if not isinstance(without, float) or not isinstance(with_, float):
        return []
    return [
        f"preferences: {figures['count']} notifications of a declared category to "
        f"{figures['users']} users, limits lifted (API latency as above): CPU per "
        f"notification {with_:.2f} ms with "
        f"preferences stored for every user, {without:.2f} ms with none ({with_ / without - 1:+.0%}"
        "; read in the same round trip as the chat)"
    ]
