"""Several instances on one Redis keep every promise of one: each user's order, each
notification once, Telegram's limits; a dead instance's leftovers are taken over within
seconds of a new process being ready, whatever its name; a Redis outage longer than any
timeout doubles nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import redis
import redis.asyncio

from bot.chat.user import HELP
from bot.cluster.liveness import DEAD_AFTER
from bot.config.settings import Settings
from bot.publisher import Publisher
from bot.testing import FakeTelegram, FloodLimits
from bot.tools.redis_server import RedisServer
from tests.bots import BotProcess, kill_left, leader, process_env, start_bot, stop_all
from tests.helpers import link_chat, link_directly, not_in_flight_at_kill, report, wait_sent
from tests.isolation import TIMING
from tests.waiting import until

USERS = 20
WEBHOOK = "https://bot.example.com/telegram"


def _xadd_in_order(client: redis.Redis, stream: str, per_user: int) -> list[str]:
    """`per_user` notifications to each of USERS users, interleaved, each with an id."""
    ids = []
    for step in range(per_user):
        for user in range(1, USERS + 1):
            ids.append(f"u{user}-{step}")
            note = {"user_id": user, "message": f"u{user} step {step}", "id": ids[-1]}
            client.xadd(stream, {"payload": json.dumps(note)})
    return ids


def _verdict(telegram: FakeTelegram, per_user: int, chat_base: int) -> tuple[int, int, int]:
    """(lost, doubled, users out of order) among what reached the chats."""
    counts = Counter(m.text for m in telegram.sent if " step " in m.text)
    expected = {f"u{user} step {step}" for user in range(1, USERS + 1) for step in range(per_user)}
    lost = len(expected - set(counts))
    doubled = sum(n - 1 for n in counts.values())
    out_of_order = 0
    for user in range(1, USERS + 1):
        got = [m.text for m in telegram.sent if m.chat_id == chat_base + user]
        firsts = list(dict.fromkeys(got))  # a double does not count as disorder here
        out_of_order += firsts != sorted(firsts, key=lambda text: int(text.rsplit(" ", 1)[1]))
    return lost, doubled, out_of_order


@TIMING
def test_three_unnamed_instances_keep_each_users_order_and_telegrams_limits(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """160 stream notifications (8 to each of 20 users, added in order) through 3 instances
    started as systemd or honcho would (no STREAM_CONSUMER, no DYNO), Telegram's limits
    enforced: every chat gets its 8 in order, each once, and Telegram never answers 429."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    link_directly(client, telegram, range(1, USERS + 1), chat_base=40_000)
    telegram.set_limits(FloodLimits())
    env = process_env(telegram, redis_url, channel, TELEGRAM_CHAT_BURST="3")  # Telegram's pace
    workers = [BotProcess(f"unnamed.{n}", env, tmp_path, named=False) for n in (1, 2, 3)]
    try:
        for worker in workers:
            worker.wait_ready()
        started = time.monotonic()
        _xadd_in_order(client, f"{channel}-stream", per_user=8)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=160, timeout=60)
        took = time.monotonic() - started
        codes = stop_all(workers)
    finally:
        kill_left(workers)
        client.close()
    lost, doubled, out_of_order = _verdict(telegram, 8, 40_000)
    report(
        f"3 instances, 160 to 20 users: lost {lost}, doubled {doubled}, "
        f"chats out of order {out_of_order}, 429s {telegram.rate_limited}, {took:.1f} s"
    )
    assert (lost, doubled, out_of_order, telegram.rate_limited) == (0, 0, 0, 0)
    assert codes == [0, 0, 0]


def test_an_unnamed_instance_killed_mid_stream_is_resumed_by_its_restart_within_seconds(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """One instance without a stable name is SIGKILLed after 50 of 200 stream entries and
    restarted at once under a new name: what the dead one had read is taken over as soon as
    its heartbeat has stopped, not after a claim time, and each id it took over is logged."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    link_directly(client, telegram, range(1, USERS + 1), chat_base=41_000)
    env = process_env(telegram, redis_url, channel, TELEGRAM_MAX_PER_SECOND="100")
    first = BotProcess("first", env, tmp_path, named=False)
    second: BotProcess | None = None
    try:
        first.wait_ready()
        _xadd_in_order(client, f"{channel}-stream", per_user=10)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=50, timeout=30)
        killed_at = first.kill()
        second = BotProcess("second", env, tmp_path, named=False)
        second.wait_ready()
        ready = time.monotonic()
        sent_before = len(telegram.sent)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=sent_before + 1, timeout=30)
        resumed = time.monotonic() - ready
        telegram.wait_for_sent(lambda m: " step " in m.text, count=200, timeout=30)
        after_ready = time.monotonic() - ready
        taken = [e for e in second.events() if e.get("event") == "stream_taken_over"]
        codes = stop_all([second])
    finally:
        kill_left([first, second])
        client.close()
    lost, doubled, out_of_order = _verdict(telegram, 10, 41_000)
    logged_ids = {str(i) for event in taken for i in event.get("ids", [])}  # type: ignore[attr-defined]
    doubled_ids = {text for text, n in Counter(m.text for m in telegram.sent).items() if n > 1}
    report(
        f"SIGKILL after 50 of 200, restarted: sending again {resumed:.1f} s and all delivered "
        f"{after_ready:.1f} s after the new process was ready; "
        f"lost {lost}, doubled {doubled}, out of order {out_of_order}; "
        f"taken over {sum(int(e['entries']) for e in taken)}"  # type: ignore[call-overload]
    )
    # The dead leader's heartbeat is 3 s old (DEAD_AFTER) within a second or two of the restart
    # being ready; a claim by idle time would have waited a minute.
    assert resumed < DEAD_AFTER + 3
    assert (lost, out_of_order) == (0, 0)
    # Only sends in flight at the kill (sendMessage has no idempotency key), each named.
    assert not_in_flight_at_kill(telegram.sent, [killed_at]) == []
    for text in doubled_ids:
        user, step = text.split(" step ")
        assert f"{user}-{step}" in logged_ids
    assert codes == [0]


def test_a_redis_outage_longer_than_every_timeout_doubles_nothing_across_instances(
    own_redis: RedisServer, telegram: FakeTelegram, channel: str, tmp_path: Path
) -> None:
    """200 with ids to 20 users through 3 instances; Redis is killed after about 40 went out
    and is back 5 s later with its data: nobody takes over what a live instance sent but
    could not record, so each arrives once, in order."""
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    link_directly(client, telegram, range(1, USERS + 1), chat_base=42_000)
    env = process_env(telegram, own_redis.url, channel, TELEGRAM_MAX_PER_SECOND="40")
    workers = [BotProcess(f"unnamed.{n}", env, tmp_path, named=False) for n in (1, 2, 3)]
    try:
        for worker in workers:
            worker.wait_ready()
        _xadd_in_order(client, f"{channel}-stream", per_user=10)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=40, timeout=30)
        own_redis.kill()
        killed_after = len(telegram.sent)
        time.sleep(5)  # the outage itself, not a wait for a condition
        own_redis.start()
        telegram.wait_for_sent(lambda m: " step " in m.text, count=200, timeout=60)
        until(
            lambda: client.xpending(f"{channel}-stream", "notify-bot")["pending"] == 0,
            "everything settled",
            within=20,
        )
        codes = stop_all(workers)
    finally:
        kill_left(workers)
        client.close()
    lost, doubled, out_of_order = _verdict(telegram, 10, 42_000)
    report(
        f"Redis down 5 s after {killed_after} of 200, 3 instances: lost {lost}, "
        f"doubled {doubled}, out of order {out_of_order}"
    )
    assert killed_after < 200
    assert (lost, doubled, out_of_order) == (0, 0, 0)
    assert codes == [0, 0, 0]


def _sigterm_during_outage(
    own_redis: RedisServer,
    telegram: FakeTelegram,
    channel: str,
    tmp_path: Path,
    *,
    grace: float,
    outage: float,
    **extra: str,
) -> tuple[BotProcess, tuple[int, int, int], set[str], int]:
    """One instance sends 200 with ids; Redis goes away; SIGTERM; Redis is back after
    `outage` s; a new process of the same name finishes. Returns the stopped worker, the
    verdict, the texts that arrived twice and the stopped one's exit code."""
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    link_directly(client, telegram, range(1, USERS + 1), chat_base=43_000)
    env = process_env(
        telegram,
        own_redis.url,
        channel,
        STREAM_CONSUMER="worker.1",
        TELEGRAM_MAX_PER_SECOND="40",
        SHUTDOWN_TIMEOUT=str(grace),
        **extra,
    )
    first = BotProcess("first", env, tmp_path)
    second: BotProcess | None = None
    try:
        first.wait_ready()
        _xadd_in_order(client, f"{channel}-stream", per_user=10)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=40, timeout=30)
        own_redis.kill()
        first.terminate()
        time.sleep(outage)  # the outage itself
        own_redis.start()
        code = first.wait(grace + 15)
        second = BotProcess("second", env, tmp_path)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=200, timeout=30)
        stop_all([second])
    finally:
        kill_left([first, second])
        client.close()
    doubled = {text for text, n in Counter(m.text for m in telegram.sent).items() if n > 1}
    return first, _verdict(telegram, 10, 43_000), doubled, code


def test_a_sigterm_during_a_redis_outage_shorter_than_the_grace_doubles_nothing(
    own_redis: RedisServer, telegram: FakeTelegram, channel: str, tmp_path: Path
) -> None:
    """Sends that went out while Redis was away are recorded once it is back, within
    SHUTDOWN_TIMEOUT: the next process sends none of them again."""
    _, (lost, doubled, out_of_order), _, code = _sigterm_during_outage(
        own_redis, telegram, channel, tmp_path, grace=8, outage=2
    )
    report(f"SIGTERM in a 2 s outage, 8 s grace: lost {lost}, doubled {doubled}")
    assert (lost, doubled, out_of_order, code) == (0, 0, 0, 0)


def test_a_sigterm_during_a_longer_redis_outage_names_what_may_be_sent_again(
    own_redis: RedisServer, telegram: FakeTelegram, channel: str, tmp_path: Path
) -> None:
    """The grace runs out while Redis is away: the bot exits all the same and logs the ids
    whose send may have happened without being recorded; only those can arrive twice."""
    # The grace and a send's last Telegram timeout (1 s each here) both run out in the outage.
    stopped, (lost, doubled, out_of_order), twice, code = _sigterm_during_outage(
        own_redis, telegram, channel, tmp_path, grace=1, outage=4, TELEGRAM_TIMEOUT="1"
    )
    abandoned = [e for e in stopped.events() if e.get("event") == "delivery_abandoned"]
    named = {str(i) for e in abandoned for i in e.get("may_repeat", [])}  # type: ignore[attr-defined]
    report(
        f"SIGTERM in a 4 s outage, 1 s grace: lost {lost}, doubled {doubled}, "
        f"named as may-repeat {len(named)}"
    )
    assert abandoned, "the cut-short shutdown says so"
    assert (lost, out_of_order, code) == (0, 0, 0)
    for text in twice:
        user, step = text.split(" step ")
        assert f"{user}-{step}" in named, f"{text} arrived twice and was not named"


@TIMING
async def test_a_standbys_replies_take_their_turn_at_the_leaders_pacer(
    telegram: FakeTelegram, settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """Webhook mode, two instances, Telegram's per-chat limit enforced: the router hands a
    user's three /help to the standby while the leader sends that user's four notifications.
    The standby's replies go out through the leader, in the chat's turn: all seven arrive and
    Telegram never answers 429 (each pacing alone would send three at once from each)."""
    config = settings.model_copy(
        update={"webhook_url": WEBHOOK, "port": 0, "http_host": "127.0.0.1"}
    )
    config = config.model_copy(update={"telegram_chat_burst": 3})  # Telegram's pace per chat
    leader = await start_bot(config.model_copy(update={"stream_consumer": "leader"}))
    standby = await start_bot(config.model_copy(update={"stream_consumer": "standby"}))
    try:
        assert leader.bot.leadership.is_leader
        assert not standby.bot.leadership.is_leader
        assert standby.bot.http is not None
        telegram.route_webhooks_to(f"http://127.0.0.1:{standby.bot.http.port}")
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        telegram.set_limits(FloodLimits())
        telegram.rate_limited = 0
        for n in range(4):
            await redis_client.xadd(
                config.notification_stream,
                {"payload": json.dumps({"user_id": 42, "message": f"note {n}"})},
            )
        for _ in range(3):
            telegram.user_says(9001, "/help")
        sent = await wait_sent(
            telegram,
            chat_id=9001,
            predicate=lambda m: m.text.startswith("note") or m.text == HELP,
            count=7,
            timeout=20,
        )
        report(f"3 replies from a standby beside 4 notifications: {telegram.rate_limited} x 429")
        assert sorted(m.text for m in sent) == [HELP] * 3 + [f"note {n}" for n in range(4)]
        assert telegram.rate_limited == 0
    finally:
        await standby.shutdown()
        await leader.shutdown()


def test_publish_delivers_through_a_leader_sigkill(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """20 published with Publisher.publish(), one every 0.3 s, while the leader of three is
    SIGKILLed after the fifth: all 20 arrive (main lost 13-17 of them, published on the channel
    while nobody subscribed), once each but for a send in flight at the kill, which is logged."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    link_directly(client, telegram, range(1, 2), chat_base=44_000)
    env = process_env(telegram, redis_url, channel)
    workers = [BotProcess(f"unnamed.{n}", env, tmp_path, named=False) for n in (1, 2, 3)]
    publisher = Publisher(client, channel, f"{channel}-stream")
    kills: list[float] = []
    try:
        for worker in workers:
            worker.wait_ready()
        for n in range(20):
            if n == 5:
                victim = next(w for w in workers if w.identity == leader(client, telegram.token))
                kills.append(victim.kill())
                workers.remove(victim)
            publisher.publish(1, f"published {n}")
            time.sleep(0.3)  # the publisher's pace, as in the report
        sent = telegram.wait_for_sent(
            lambda m: m.text.startswith("published "), count=20, timeout=30
        )
        taken = sum(
            int(str(e["entries"]))
            for w in workers
            for e in w.events()
            if e.get("event") == "stream_taken_over"
        )
        codes = stop_all(workers)
    finally:
        kill_left(workers)
        client.close()
    counts = Counter(m.text for m in telegram.sent if m.text.startswith("published "))
    doubled = sum(counts.values()) - len(counts)
    report(f"publish() across a leader's SIGKILL: {len(counts)} of 20 arrived, doubled {doubled}")
    assert sorted(counts) == sorted(f"published {n}" for n in range(20))
    assert len(sent) >= 20
    assert not_in_flight_at_kill(telegram.sent, kills) == []
    assert not doubled or taken
    assert codes == [0, 0]
