"""Three bot processes on one Redis and one bot token: the leader is killed -9 mid-stream."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import redis

from bot.chat.user import HELP
from bot.testing import FakeTelegram
from tests.bots import BotProcess, kill_left, leader, process_env, stop_all
from tests.helpers import link_directly, report
from tests.isolation import TIMING
from tests.waiting import until

TOTAL = 300
USERS = 10


def kill_the_leader(
    telegram: FakeTelegram, client: redis.Redis, workers: dict[str, BotProcess]
) -> str:
    """SIGKILL the lock holder (removed from `workers`) while each process's only send hangs,
    so the kill cannot fall between Telegram accepting a send and the victim recording it
    (a send in that window would be delivered once more: delivery is at least once)."""
    calls = len(telegram.calls_to("sendMessage"))
    telegram.hang_next("sendMessage", 1.0, times=3)
    telegram.wait_for_call("sendMessage", count=calls + 3)
    time.sleep(0.2)  # the sends before the hung ones are recorded (acknowledged) by now
    name = leader(client, telegram.token)
    assert name is not None  # the leader holds it: it renews the lock well before expiry
    workers.pop(name).kill()
    return name


def pubsub_note(message: str) -> str:
    return json.dumps({"user_id": 1, "message": message})


@TIMING
def test_three_instances_survive_the_leader_killed_mid_stream(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stream = f"{channel}-stream"
    env = process_env(
        telegram,
        redis_url,
        channel,
        # One send in flight per process: at the kill, the victim's only send is the hung one.
        DELIVERY_CONCURRENCY="1",
        TELEGRAM_MAX_PER_SECOND="100",  # not Telegram's 30/s: the pace is not what is tested
    )
    link_directly(client, telegram, range(1, USERS + 1), chat_base=20_000)

    workers = {n: BotProcess(n, env, tmp_path) for n in ("worker.1", "worker.2", "worker.3")}
    everyone = list(workers.values())
    try:
        for worker in everyone:
            worker.wait_ready(20)
        # Pub/sub reaches every subscriber, so only the leader subscribes: one receiver.
        assert client.publish(channel, pubsub_note("pub/sub before")) == 1
        for n in range(TOTAL):
            note = {"user_id": n % USERS + 1, "message": f"entry {n}", "id": f"n{n}"}
            client.xadd(stream, {"payload": json.dumps(note)})
        telegram.wait_for_sent(count=TOTAL // 3, timeout=30)

        killed = kill_the_leader(telegram, client, workers)
        killed_at = time.monotonic()
        delivered_at_kill = len(telegram.sent)

        until(
            lambda: leader(client, telegram.token) not in (None, killed),
            "a standby taking the lock",
            within=15,
        )
        takeover = time.monotonic() - killed_at
        successor = leader(client, telegram.token)
        telegram.user_says(777, "/help")  # answered only if the new leader polls
        [reply] = telegram.wait_for_sent(chat_id=777, timeout=20)
        answered = time.monotonic() - killed_at
        assert reply.text == HELP
        until(lambda: client.pubsub_numsub(channel)[0][1] == 1, "the new leader subscribing")
        assert client.publish(channel, pubsub_note("pub/sub after")) == 1

        telegram.wait_for_sent(lambda m: m.text.startswith("entry "), count=TOTAL, timeout=60)
        codes = stop_all(workers.values())
    finally:
        kill_left(everyone)
        client.close()

    counts = Counter(m.text for m in telegram.sent if m.text.startswith(("entry ", "pub/sub")))
    conflicts_logged = sum(
        e.get("event") == "telegram_conflict" for w in workers.values() for e in w.events()
    )
    report(
        f"failover: published {TOTAL} + 2 on pub/sub,",
        f"delivered {sum(counts.values())}, distinct {len(counts)},",
        f"duplicates {sum(counts.values()) - len(counts)}, lost {TOTAL + 2 - len(counts)}",
        f"before the kill {delivered_at_kill}; killed {killed}, new leader {successor}",
        f"takeover {takeover:.2f} s, /help answered {answered:.2f} s after the kill",
        f"409s from the emulator {telegram.conflicts}, telegram_conflict lines {conflicts_logged}",
    )
    assert codes == [0, 0]
    assert len(counts) == TOTAL + 2
    assert max(counts.values()) == 1, [text for text, n in counts.items() if n > 1]
    assert successor in workers
    assert takeover <= 3.0  # the default lock TTL (2.5 s): a standby tries as it expires
    assert telegram.conflicts <= 1  # at most the victim's own orphaned long poll
    assert conflicts_logged == 0


def test_two_instances_on_one_host_without_names_lead_one_at_a_time(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """honcho, systemd or two terminals: no STREAM_CONSUMER, no DYNO. Each process still gets
    a name of its own, so one leads and one stands by: every pub/sub notification arrives
    once, and Telegram never answers 409."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    link_directly(client, telegram, range(1, 2), chat_base=20_000)
    env = process_env(telegram, redis_url, channel)
    assert "STREAM_CONSUMER" not in env
    assert "DYNO" not in env
    workers = [BotProcess(f"unnamed.{n}", env, tmp_path, named=False) for n in (1, 2)]
    try:
        for worker in workers:
            worker.wait_ready(20)
        roles = sorted(
            str(e.get("role")) for w in workers for e in w.events() if e.get("event") == "bot_ready"
        )
        assert roles == ["leader", "standby"]
        for n in range(20):
            assert client.publish(channel, pubsub_note(f"note {n}")) == 1
        telegram.wait_for_sent(lambda m: m.text.startswith("note "), count=20, timeout=20)
        # Before the shutdown: the leader's last long poll, cut short as it hands over, is
        # answered 409 to nobody.
        conflicts = telegram.conflicts
        codes = stop_all(workers)
    finally:
        kill_left(workers)
        client.close()
    counts = Counter(m.text for m in telegram.sent if m.text.startswith("note "))
    assert codes == [0, 0]
    assert sorted(counts.values()) == [1] * 20
    assert conflicts == 0
