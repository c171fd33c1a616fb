"""Faults end to end, in one bot: Redis dies and comes back, Telegram's limits, outages, hangs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

import redis
import redis.asyncio
from structlog.testing import capture_logs

from bot import runtime
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.store.client import async_client
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.redis_server import RedisServer
from tests.bots import start_bot
from tests.helpers import link_chat, link_directly, note_json, report, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually


@TIMING
async def test_delivery_resumes_within_seconds_after_redis_restarts(
    own_redis: RedisServer, telegram: FakeTelegram, settings: Settings
) -> None:
    """Redis is killed mid-run and restarted: the bot reconnects and resubscribes, and what is
    published after the restart is delivered. Nothing published while it was up is lost."""
    own_redis.start()
    config = settings.model_copy(update={"redis_url": own_redis.url})
    running = await start_bot(config)
    client = async_client(own_redis.url)  # retries once over the restart, as publishers should
    try:
        await link_chat(telegram, client, user_id=42, chat_id=9001)
        for i in range(5):
            await client.publish(config.notification_channel, note_json(42, f"before {i}"))
            await client.xadd(
                config.notification_stream, {"payload": note_json(42, f"durable {i}")}
            )
        await wait_sent(telegram, chat_id=9001, count=11)  # the link reply and 10

        listener = running.bot.listener
        assert listener is not None
        own_redis.kill()
        await eventually(lambda: not listener.subscribed.is_set())
        own_redis.start()
        back = time.monotonic()
        await eventually(listener.subscribed.is_set, within=10)
        resubscribed_after = time.monotonic() - back

        for i in range(5):
            await client.publish(config.notification_channel, note_json(42, f"after {i}"))
            await client.xadd(
                config.notification_stream, {"payload": note_json(42, f"durable after {i}")}
            )
        sent = await wait_sent(telegram, chat_id=9001, count=21)
        texts = [m.text for m in sent]
        assert len(set(texts)) == 21  # no duplicates
        dead = await running.bot.dead_letters.count()
        report(
            "redis restart: published 20, delivered",
            len(texts) - 1,
            "dead-lettered",
            dead,
            "lost",
            20 - (len(texts) - 1),
            f"resubscribed {resubscribed_after:.2f} s after restart",
        )
        assert resubscribed_after < 2.0, f"resubscribed {resubscribed_after:.2f} s after restart"
    finally:
        await running.shutdown()
        await client.aclose()


def _unreachable_at_start(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    """Said as what it is (it was `schema_migration_waiting`): Redis, and what waits for it."""
    return [e for e in logs if e["event"] == "redis_unavailable" and "start-up" in e["before"]]


async def test_a_bot_started_while_redis_is_down_delivers_once_it_is_up(
    own_redis: RedisServer, telegram: FakeTelegram, settings: Settings
) -> None:
    """Without Redis the registry's schema cannot be checked (nor the leader lock taken), so
    the bot does not poll: a user's message waits at Telegram and is answered once Redis is
    back."""
    config = settings.model_copy(update={"redis_url": own_redis.url})
    stop, ready = asyncio.Event(), asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(runtime.run(config, stop, ready))
        await asyncio.to_thread(telegram.wait_for_call, "getMe")
        telegram.user_says(9001, "/help")
        # Not a sleep: Redis was tried and refused twice, with the message waiting.
        await eventually(lambda: len(_unreachable_at_start(logs)) >= 2)
    try:
        assert not ready.is_set()
        assert telegram.calls_to("getUpdates") == []
        assert telegram.pending_updates() == 1
        own_redis.start()
        await asyncio.wait_for(ready.wait(), 10)
        [help_reply] = await wait_sent(telegram, chat_id=9001)
        assert help_reply.text == HELP
        client = redis.asyncio.Redis.from_url(own_redis.url)
        async with client:
            await link_chat(telegram, client, user_id=42, chat_id=9001)
            await client.publish(config.notification_channel, note_json(42, "now it works"))
            await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "now it works")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@TIMING
async def test_300_notifications_to_100_users_under_telegrams_limits(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """The emulator enforces Telegram's limits (30/s overall, ~1/s per chat with bursts of 3):
    every notification arrives, in order per chat, and Telegram never has to say 429."""
    config = settings.model_copy(update={"telegram_chat_burst": 3})
    running = await start_bot(config)
    try:
        users = range(1, 101)
        for user in users:
            await link_chat(telegram, redis_client, user_id=user, chat_id=10_000 + user)
        telegram.set_limits(FloodLimits())  # links done; from now on Telegram counts
        sent_before = len(telegram.sent)

        async with redis_client.pipeline(transaction=False) as pipe:
            for round_ in range(3):
                for user in users:
                    pipe.publish(
                        config.notification_channel, note_json(user, f"note {user}.{round_}")
                    )
            await pipe.execute()

        sent = await wait_sent(
            telegram, predicate=lambda m: m.text.startswith("note "), count=300, timeout=60
        )
        assert len(telegram.sent) - sent_before == 300
        assert telegram.rate_limited == 0
        for user in users:
            texts = [m.text for m in sent if m.chat_id == 10_000 + user]
            assert texts == [f"note {user}.0", f"note {user}.1", f"note {user}.2"]
    finally:
        await running.shutdown()


async def test_a_redis_restart_mid_burst_loses_and_duplicates_nothing(
    own_redis: RedisServer, telegram: FakeTelegram, settings: Settings
) -> None:
    """500 stream notifications with ids to 50 users; Redis is killed -9 after 100 have gone
    out and is back 3 s later (data kept). Sends that succeeded while it was away are settled
    once it is back (not dead-lettered as crashed and sent again): every notification arrives
    exactly once, in order per user, and nothing is left pending or dead-lettered."""
    own_redis.start()
    # 200/s: the burst takes 2.5 s, long enough to be cut, short enough for the suite.
    config = settings.model_copy(
        update={"redis_url": own_redis.url, "telegram_max_per_second": 200}
    )
    client = redis.Redis.from_url(own_redis.url)
    link_directly(client, telegram, range(1, 51), chat_base=20_000)
    running = await start_bot(config)
    try:
        telegram.latency = 0.02
        _burst(client, config.notification_stream, "n", count=500, users=50)
        await eventually(lambda: len(telegram.sent) >= 100)
        own_redis.kill()
        killed_after = len(telegram.sent)
        await asyncio.sleep(3)  # the outage itself, not a wait for a condition
        own_redis.start()
        back = time.monotonic()
        sent = await wait_sent(
            telegram, predicate=lambda m: m.text.startswith("n"), count=500, timeout=40
        )
        all_sent_after = time.monotonic() - back
        await eventually(
            lambda: client.xpending(config.notification_stream, "notify-bot")["pending"] == 0,
            within=20,
        )
        lost, duplicated = _lost_and_duplicated(telegram, "n", 500)
        out_of_order = [
            user
            for user in range(1, 51)
            if [m.text for m in sent if m.chat_id == 20_000 + user]
            != [f"n{n}" for n in range(user - 1, 500, 50)]
        ]
        report(
            f"redis killed after {killed_after} of 500 sent, back after 3 s: "
            f"lost {len(lost)}, duplicated {len(duplicated)}, users out of order "
            f"{len(out_of_order)}; all sent {all_sent_after:.1f} s after Redis was back"
        )
        assert (lost, duplicated, out_of_order) == ([], [], [])
        assert client.xlen("notify:deadletters") == 0
        assert killed_after < 500  # the kill did land mid-burst
    finally:
        telegram.latency = 0.0
        client.close()
        await running.shutdown()


async def test_telegram_unreachable_mid_burst_is_waited_out_not_dead_lettered(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """Telegram refuses connections for 3 s in the middle of 300 stream notifications. The
    retry budget (2 attempts, 0.05 s apart) would give up within a tenth of a second; an outage
    is waited out instead: every notification arrives exactly once, none is dead-lettered."""
    config = settings.model_copy(
        update={
            "telegram_max_per_second": 200,
            "delivery_max_attempts": 2,
            "delivery_retry_base": 0.05,
        }
    )
    client = redis.Redis.from_url(config.redis_url)
    link_directly(client, telegram, range(1, 31), chat_base=30_000)
    running = await start_bot(config)
    try:
        telegram.latency = 0.02
        _burst(client, config.notification_stream, "t", count=300, users=30)
        await eventually(lambda: len(telegram.sent) >= 100)
        telegram.go_offline()
        offline_after = len(telegram.sent)
        await asyncio.sleep(3)  # the outage itself
        telegram.come_back()
        await wait_sent(telegram, predicate=lambda m: m.text.startswith("t"), count=300)
        await eventually(lambda: running.bot.dispatcher.pending == 0)
        lost, duplicated = _lost_and_duplicated(telegram, "t", 300)
        report(
            f"telegram refused for 3 s after {offline_after} of 300: lost {len(lost)}, "
            f"duplicated {len(duplicated)}, dead letters {await running.bot.dead_letters.count()}"
        )
        assert (lost, duplicated) == ([], [])
        assert 0 < offline_after < 300
        assert await running.bot.dead_letters.count() == 0
    finally:
        telegram.latency = 0.0
        client.close()
        await running.shutdown()


async def test_an_outage_longer_than_the_limit_fails_what_waited_and_then_delivery_goes_on(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """TELEGRAM_OUTAGE_MAX_SECONDS bounds the wait: past it, the waiting notification fails
    with a reason that says so (and is dead-lettered for a replay)."""
    running = await start_bot(settings.model_copy(update={"telegram_outage_max_seconds": 1}))
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        telegram.go_offline()
        try:
            await redis_client.publish(settings.notification_channel, note_json(42, "during"))
            stats = running.bot.stats
            await eventually(lambda: stats.outcomes[Outcome.FAILED] == 1, within=15)
        finally:
            telegram.come_back()
        # Counted first, written to Redis a moment later (the settle's round trip).
        await eventually(lambda: running.bot.dead_letters.latest(1))
        [letter] = await running.bot.dead_letters.latest(1)
        assert "telegram_sending unavailable for" in letter.reason
        assert not letter.reason.startswith("Timed out")  # it was refused or cut, not slow
        await redis_client.publish(settings.notification_channel, note_json(42, "after"))
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "after")
    finally:
        await running.shutdown()


async def test_after_a_hang_only_the_timed_out_sends_are_sent_again_once(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """Telegram holds every request for 1.5 s (longer than TELEGRAM_TIMEOUT, 1 s) but
    carries it out: the sends in flight time out although they arrived. Each of those is sent
    once more when Telegram answers again; what was published during the hang waits and is
    sent once."""
    config = settings.model_copy(update={"telegram_timeout": 1.0})
    client = redis.Redis.from_url(config.redis_url)
    link_directly(client, telegram, range(1, 21), chat_base=40_000)
    running = await start_bot(config)
    try:
        telegram.latency = 1.5
        for user in range(1, 11):
            await redis_client.publish(config.notification_channel, note_json(user, f"a{user}"))
        await eventually(lambda: len(telegram.calls_to("sendMessage")) >= 10)
        await eventually(lambda: len(telegram.calls_to("getMe")) >= 2)  # the breaker probes
        for user in range(11, 21):
            await redis_client.publish(config.notification_channel, note_json(user, f"b{user}"))
        # All ten received and waiting behind the breaker before Telegram answers again.
        await eventually(lambda: running.bot.stats.received == 20)
        telegram.latency = 0.0
        await wait_sent(telegram, predicate=lambda m: m.text.startswith("b"), count=10)
        await eventually(lambda: running.bot.dispatcher.pending == 0)
        counts = Counter(m.text for m in telegram.sent)
        report(f"after a hang: {dict(sorted(counts.items()))}")
        assert all(counts[f"a{user}"] == 2 for user in range(1, 11))  # arrived, timed out, again
        assert all(counts[f"b{user}"] == 1 for user in range(11, 21))
    finally:
        telegram.latency = 0.0
        client.close()
        await running.shutdown()


def _burst(client: redis.Redis, stream: str, prefix: str, *, count: int, users: int) -> None:
    """`count` stream notifications with ids, prefix0.., to users 1..`users` in turn, chats
    linked by `link_directly` (in one round trip, as a busy web app would)."""
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        payload = note_json(n % users + 1, f"{prefix}{n}", id=f"{prefix}{n}")
        pipe.xadd(stream, {"payload": payload})
    pipe.execute()


def _lost_and_duplicated(
    telegram: FakeTelegram, prefix: str, count: int
) -> tuple[list[str], list[str]]:
    """Of the texts prefix0..prefix<count-1>: those never sent, and those sent more than once."""
    sent = Counter(m.text for m in telegram.sent)
    texts = [f"{prefix}{n}" for n in range(count)]
    return [t for t in texts if sent[t] == 0], [t for t in texts if sent[t] > 1]
