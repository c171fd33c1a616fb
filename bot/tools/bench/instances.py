"""The bench's row for several instances: three bots on one stream with paid broadcasts, the
emulator enforcing Telegram's 1,000/s and each chat's limit. Only the leader delivers, so the
three together should reach the cap of one, with no 429 and every user's order kept."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import redis

from bot.config.settings import PAID_BROADCAST_PER_SECOND
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.bench.kit import CHAT_BASE, BotProcess, bot_env

INSTANCES = 3
GOAL_CAP_SHARE = 0.95
XADD_CHUNK = 10_000


@dataclass
class InstancesFigures:
    instances: int = INSTANCES
    published: int = 0
    delivered: int = 0
    rate: float | None = None  # sustained, first to last arrival
    cap_fraction: float | None = None
    flood_429s: int = 0
    users_out_of_order: int = 0


def measure_instances(
    telegram: FakeTelegram,
    client: redis.Redis,
    url: str,
    *,
    count: int,
    latency_ms: float,
    instances: int = INSTANCES,
) -> InstancesFigures:
    """`count` notifications, two to each of count/2 users (linked already: CHAT_BASE + user),
    the first of every user before any second, XADDed before the bots start (the emulator runs
    in this process: it has nothing else to do while it stamps arrivals)."""
    figures = InstancesFigures(instances=instances)
    users = max(count // 2, 1)
    tag = uuid.uuid4().hex[:6]
    stream = f"bench-instances-{tag}-stream"
    for start in range(0, 2 * users, XADD_CHUNK):
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + XADD_CHUNK, 2 * users)):
                user, step = n % users + 1, n // users
                note = {"user_id": user, "message": f"i {tag} {step} {user}"}
                pipe.xadd(stream, {"payload": json.dumps(note)})
            pipe.execute()
    figures.published = 2 * users
    telegram.set_limits(FloodLimits(per_second=PAID_BROADCAST_PER_SECOND))
    telegram.rate_limited = 0
    telegram.latency = latency_ms / 1000
    bots: list[BotProcess] = []
    try:
        for number in range(1, instances + 1):
            env = bot_env(
                telegram,
                url,
                f"bench-instances-{tag}",
                NOTIFICATION_STREAM=stream,
                TELEGRAM_PAID_BROADCAST="true",
                STREAM_CONSUMER=f"bench-{tag}-{number}",
                SHUTDOWN_TIMEOUT="0.5",
            )
            bots.append(BotProcess(["-m", "bot"], env, '"event": "bot_ready"'))
        sent = telegram.wait_for_sent(
            lambda m: m.text.startswith(f"i {tag} "), count=2 * users, timeout=120
        )
    finally:
        telegram.latency = 0.0
        telegram.set_limits(None)
        for bot in bots:
            bot.stop()
    figures.delivered = len(sent)
    figures.flood_429s = telegram.rate_limited
    if len(sent) > 1:
        figures.rate = (len(sent) - 1) / (sent[-1].at - sent[0].at)
        figures.cap_fraction = figures.rate / PAID_BROADCAST_PER_SECOND
    seen: dict[int, list[int]] = {}
    for message in sent:
        seen.setdefault(message.chat_id - CHAT_BASE, []).append(int(message.text.split(" ")[2]))
    figures.users_out_of_order = sum(steps != sorted(steps) for steps in seen.values())
    client.delete(stream, f"{stream}:high", f"{stream}:bulk")
    return figures


def instances_lines(figures: dict[str, object], one: dict[str, object]) -> list[str]:
    """The row for several instances, beside one instance measured the same way in the same
    run (what a machine can do varies from day to day; the ratio does not)."""
    rate, share, alone = figures["rate"], figures["cap_fraction"], one["rate"]
    shown = "-" if not isinstance(rate, float) else f"{rate:,.0f}/s"
    part = "-" if not isinstance(share, float) else f"{share:.1%}"
    ratio = "-"
    if isinstance(rate, float) and isinstance(alone, float):
        ratio = f"{rate / alone:.2f}x one instance's {alone:,.0f}/s"
    return [
        f"{figures['instances']} instances on one stream, paid broadcasts (1,000/s): "
        f"{figures['delivered']} of {figures['published']} delivered at {shown}, {part} of the "
        f"cap (goal >= {GOAL_CAP_SHARE:.0%}), {ratio}; {figures['flood_429s']} x 429, "
        f"{figures['users_out_of_order']} users out of order"
    ]
