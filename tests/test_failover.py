"""Three bot processes on one Redis and one bot token: the leader is killed -9 mid-stream."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from bot.chat.user import HELP
from bot.cluster.leader import LEADER_KEY
from bot.testing import FakeTelegram
from tests.helpers import link_directly, process_env, report

TOTAL = 300
USERS = 10


class Worker:
    """One `python -m bot` process, its JSON log in a file."""

    def __init__(
        self, name: str, env: dict[str, str], directory: Path, *, named: bool = True
    ) -> None:
        self.name = name
        self.log = directory / f"{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                env=env | ({"STREAM_CONSUMER": name} if named else {}),
                cwd=directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Its STREAM_CONSUMER: the name given, else what the bot makes up (host-pid).
        self.identity = name if named else f"{socket.gethostname()}-{self.process.pid}"

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def holder(client: redis.Redis, lock: str) -> str | None:
    """The STREAM_CONSUMER name of the instance holding the leader lock; None while nobody
    does (one GET: the lock can expire between two calls)."""
    value = client.get(lock)
    if value is None:
        return None
    assert isinstance(value, bytes)
    return value.decode().rsplit(":", 1)[0]


def kill_the_leader(
    telegram: FakeTelegram, client: redis.Redis, lock: str, workers: dict[str, Worker]
) -> str:
    """SIGKILL the lock holder (removed from `workers`) while each process's only send hangs,
    so the kill cannot fall between Telegram accepting a send and the victim recording it
    (a send in that window would be delivered once more: delivery is at least once)."""
    calls = len(telegram.calls_to("sendMessage"))
    telegram.hang_next("sendMessage", 1.0, times=3)
    telegram.wait_for_call("sendMessage", count=calls + 3)
    time.sleep(0.2)  # the sends before the hung ones are recorded (acknowledged) by now
    leader = holder(client, lock)
    assert leader is not None  # the leader holds it: it renews the lock well before expiry
    victim = workers.pop(leader)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(10)
    return leader


def pubsub_note(message: str) -> str:
    return json.dumps({"user_id": 1, "message": message})


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
        TELEGRAM_CHAT_BURST="1000",
    )
    link_directly(client, telegram, range(1, USERS + 1), chat_base=20_000)
    lock = LEADER_KEY.format(bot_id=telegram.token.split(":")[0])

    workers = {n: Worker(n, env, tmp_path) for n in ("worker.1", "worker.2", "worker.3")}
    try:
        wait_for(lambda: all(w.logged("bot_ready") for w in workers.values()), 20, "ready")
        # Pub/sub reaches every subscriber, so only the leader subscribes: one receiver.
        assert client.publish(channel, pubsub_note("pub/sub before")) == 1
        for n in range(TOTAL):
            note = {"user_id": n % USERS + 1, "message": f"entry {n}", "id": f"n{n}"}
            client.xadd(stream, {"payload": json.dumps(note)})
        telegram.wait_for_sent(count=TOTAL // 3, timeout=30)

        leader = kill_the_leader(telegram, client, lock, workers)
        killed_at = time.monotonic()
        delivered_at_kill = len(telegram.sent)

        wait_for(
            lambda: holder(client, lock) not in (None, leader),
            15,
            "a standby taking the lock",
        )
        takeover = time.monotonic() - killed_at
        successor = holder(client, lock)
        telegram.user_says(777, "/help")  # answered only if the new leader polls
        [reply] = telegram.wait_for_sent(chat_id=777, timeout=20)
        answered = time.monotonic() - killed_at
        assert reply.text == HELP
        wait_for(lambda: client.pubsub_numsub(channel)[0][1] == 1, 10, "the new leader subscribing")
        assert client.publish(channel, pubsub_note("pub/sub after")) == 1

        telegram.wait_for_sent(lambda m: m.text.startswith("entry "), count=TOTAL, timeout=60)
        for worker in workers.values():
            worker.process.send_signal(signal.SIGTERM)
        codes = [worker.process.wait(15) for worker in workers.values()]
    finally:
        for worker in [*workers.values()]:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        client.close()

    counts = Counter(m.text for m in telegram.sent if m.text.startswith(("entry ", "pub/sub")))
    conflicts_logged = sum(
        e.get("event") == "telegram_conflict" for w in workers.values() for e in w.events()
    )
    report(
        f"failover: published {TOTAL} + 2 on pub/sub,",
        f"delivered {sum(counts.values())}, distinct {len(counts)},",
        f"duplicates {sum(counts.values()) - len(counts)}, lost {TOTAL + 2 - len(counts)}",
        f"before the kill {delivered_at_kill}; killed {leader}, new leader {successor}",
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
    env = process_env(telegram, redis_url, channel, TELEGRAM_CHAT_BURST="1000")
    assert "STREAM_CONSUMER" not in env
    assert "DYNO" not in env
    workers = [Worker(f"unnamed.{n}", env, tmp_path, named=False) for n in (1, 2)]
    try:
        wait_for(lambda: all(w.logged("bot_ready") for w in workers), 20, "ready")
        roles = sorted(
            str(e.get("role")) for w in workers for e in w.events() if e.get("event") == "bot_ready"
        )
        assert roles == ["leader", "standby"]
        for n in range(20):
            assert client.publish(channel, pubsub_note(f"note {n}")) == 1
        telegram.wait_for_sent(lambda m: m.text.startswith("note "), count=20, timeout=20)
        conflicts = telegram.conflicts  # before the shutdown: the leader's last long poll,
        for worker in workers:  # cut short as it hands over, is answered 409 to nobody
            worker.process.send_signal(signal.SIGTERM)
        codes = [worker.process.wait(15) for worker in workers]
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        client.close()
    counts = Counter(m.text for m in telegram.sent if m.text.startswith("note "))
    assert codes == [0, 0]
    assert sorted(counts.values()) == [1] * 20
    assert conflicts == 0
