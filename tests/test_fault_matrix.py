"""The fault matrix: {SIGKILL an instance, SIGKILL the leader, SIGTERM the leader, Redis
restarted after 5 s, Redis hung for 5 s, Telegram unreachable for 10 s} x {1 instance, 3
instances}, each in the middle of 100 stream notifications with ids to 10 users. Counted by id:
0 lost and 0 out of order everywhere; 0 doubled, except sends in flight at a SIGKILL, taken
over with a log line naming them. The notifications carry no id: the bot's duplicate check by
id would hide a double. Marked slow (about 70 s in parallel, 140 s in one process): `pytest
-m slow`."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.testing import FakeTelegram
from bot.tools.redis_server import RedisServer
from tests.bots import BotProcess, kill_left, leader, process_env, stop_all
from tests.helpers import link_directly, not_in_flight_at_kill, report
from tests.waiting import until

pytestmark = pytest.mark.slow

USERS, PER_USER = 10, 10
TOTAL = USERS * PER_USER
CHAT_BASE = 50_000


class Cluster:
    """The bot processes of one scenario, started as systemd would (no names) unless asked."""

    def __init__(self, env: dict[str, str], directory: Path, client: redis.Redis) -> None:
        self.env = env
        self.directory = directory
        self.client = client
        self.workers: list[BotProcess] = []
        self.gone: list[BotProcess] = []
        self.kills: list[float] = []  # time.time() of each SIGKILL
        self.token = env["BOT_TOKEN"]

    def start(self, *names: str, named: bool = False) -> None:
        """Start a process for each name, side by side, and return once all are ready."""
        started = [BotProcess(name, self.env, self.directory, named=named) for name in names]
        self.workers.extend(started)
        for worker in started:
            worker.wait_ready()

    def leader(self) -> BotProcess:
        until(lambda: leader(self.client, self.token) is not None, "a leader")
        name = leader(self.client, self.token)
        found = [w for w in self.workers if w.running and w.identity == name]
        assert found, f"the lock names {name}, which runs no more"
        return found[0]

    def standby(self) -> BotProcess:
        lead = self.leader()
        return next(w for w in self.workers if w is not lead and w.running)

    def end(self, worker: BotProcess, how: signal.Signals) -> None:
        if how == signal.SIGKILL:
            self.kills.append(worker.kill())
        else:
            worker.stop(within=20)
        self.workers.remove(worker)
        self.gone.append(worker)

    def stop(self) -> list[int]:
        return stop_all(self.workers, within=20)

    def kill_all(self) -> None:
        kill_left([*self.workers, *self.gone])

    def events(self, name: str) -> list[dict[str, object]]:
        return [e for w in [*self.workers, *self.gone] for e in w.events() if e["event"] == name]


Fault = Callable[[Cluster, RedisServer, FakeTelegram, int], None]


def sigkill_instance(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """Three: a standby dies (nothing of it to take over). One: it dies and comes back under
    the same name (Heroku's DYNO), resuming its own entries."""
    if n == 1:
        cluster.end(cluster.workers[0], signal.SIGKILL)
        cluster.start("worker.1", named=True)
    else:
        cluster.end(cluster.standby(), signal.SIGKILL)


def sigkill_leader(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """The leader dies; with one instance a new process (a new name) replaces it."""
    cluster.end(cluster.leader(), signal.SIGKILL)
    if n == 1:
        cluster.start("replacement")


def sigterm_leader(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """The leader is stopped as a platform stops it (a deploy, a daily restart)."""
    cluster.end(cluster.leader(), signal.SIGTERM)
    if n == 1:
        cluster.start("replacement")


def redis_restart(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """Redis is killed and back 5 s later with its data (append-only file)."""
    server.kill()
    time.sleep(5)  # the outage itself
    server.start()


def redis_hang(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """Redis stops answering for 5 s (SIGSTOP): connections hang rather than fail, longer
    than the client's socket timeout."""
    server.pause()
    time.sleep(5)  # the outage itself
    server.resume()


def telegram_away(cluster: Cluster, server: RedisServer, telegram: FakeTelegram, n: int) -> None:
    """Telegram refuses connections for 10 s."""
    telegram.go_offline()
    time.sleep(10)  # the outage itself
    telegram.come_back()


FAULTS: list[Fault] = [
    sigkill_instance,
    sigkill_leader,
    sigterm_leader,
    redis_restart,
    redis_hang,
    telegram_away,
]


@pytest.mark.parametrize("instances", [1, 3])
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.__name__ for fault in FAULTS])
def test_no_fault_loses_doubles_or_reorders_a_notification(
    fault: Fault,
    instances: int,
    own_redis: RedisServer,
    telegram: FakeTelegram,
    channel: str,
    tmp_path: Path,
) -> None:
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    link_directly(client, telegram, range(1, USERS + 1), chat_base=CHAT_BASE)
    env = process_env(
        telegram,
        own_redis.url,
        channel,
        TELEGRAM_MAX_PER_SECOND="40",  # 100 take 2.5 s: the fault lands in the middle
        SHUTDOWN_TIMEOUT="1",  # a SIGTERMed leader leaves most of its backlog to the next
    )
    cluster = Cluster(env, tmp_path, client)
    try:
        names = [f"worker.{number}" for number in range(1, instances + 1)]
        cluster.start(*names, named=fault is sigkill_instance)
        for step in range(PER_USER):
            for user in range(1, USERS + 1):
                # No id: the bot's own duplicate check would hide a double.
                note = {"user_id": user, "message": f"u{user} step {step}"}
                client.xadd(f"{channel}-stream", {"payload": json.dumps(note)})
        telegram.wait_for_sent(lambda m: " step " in m.text, count=30, timeout=30)
        fault(cluster, own_redis, telegram, instances)
        at_fault = len(telegram.sent)
        telegram.wait_for_sent(lambda m: " step " in m.text, count=TOTAL, timeout=60)
        until(
            lambda: client.xpending(f"{channel}-stream", "notify-bot")["pending"] == 0,
            "everything settled",
            within=30,
        )
        codes = cluster.stop()
    finally:
        cluster.kill_all()
        client.close()

    counts = Counter(m.text for m in telegram.sent if " step " in m.text)
    lost = TOTAL - len(counts)
    doubled = {text: n for text, n in counts.items() if n > 1}
    out_of_order = [
        user
        for user in range(1, USERS + 1)
        if list(dict.fromkeys(m.text for m in telegram.sent if m.chat_id == CHAT_BASE + user))
        != [f"u{user} step {step}" for step in range(PER_USER)]
    ]
    taken = sum(int(str(e["entries"])) for e in cluster.events("stream_taken_over"))
    report(
        f"{fault.__name__} x {instances}: {at_fault} of {TOTAL} sent by the end of the fault; "
        f"lost {lost}, doubled {sum(doubled.values()) - len(doubled)}, "
        f"users out of order {len(out_of_order)}"
    )
    assert lost == 0
    assert out_of_order == []
    assert codes == [0] * len(codes)
    if fault in (sigkill_instance, sigkill_leader):
        # Only sends in flight at the kill (sendMessage has no idempotency key), taken over
        # with a log line naming them.
        assert not_in_flight_at_kill(telegram.sent, cluster.kills) == []
        assert not doubled or taken, "a double without a take-over logged"
    else:
        assert doubled == {}
