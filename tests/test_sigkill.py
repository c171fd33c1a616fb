"""Bot processes killed -9 mid-stream, mid-schedule, mid-fan-out: restarted, each arrives once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from bot.cluster.liveness import DEAD_AFTER
from bot.store.reminders import REMIND_PREFIX
from bot.testing import FakeTelegram
from tests.bots import BotProcess, process_env
from tests.helpers import link_directly, note_json, report
from tests.isolation import TIMING
from tests.waiting import until


def test_a_bot_killed_mid_stream_delivers_every_entry_exactly_once_after_restart(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """SIGKILL while a send is in flight, then start again: every stream entry is delivered
    once; the one whose send was cut off is sent by the restarted bot."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stream = f"{channel}-stream"
    env = process_env(
        telegram,
        redis_url,
        channel,
        DELIVERY_CONCURRENCY="1",
        TELEGRAM_MAX_PER_SECOND="200",  # not Telegram's 30/s: 200 sends are not what is tested
    )
    link_directly(client, telegram, range(1, 11), chat_base=20_000)
    total = 200
    entry_ids = {
        f"entry {n}": client.xadd(
            stream, {"payload": note_json(n % 10 + 1, f"entry {n}", id=f"n{n}")}
        )
        for n in range(total)
    }

    def answered_unrecorded() -> set[bytes | str]:
        """Stream ids of the sends Telegram answered that the bot has not recorded yet."""
        pending = client.xpending_range(stream, "notify-bot", "-", "+", total)
        answered = {entry_ids[m.text] for m in telegram.sent}
        return answered & {entry["message_id"] for entry in pending}

    first = BotProcess("worker.1", env, tmp_path)
    try:
        telegram.wait_for_sent(count=80, timeout=30)
        calls = len(telegram.calls_to("sendMessage"))
        telegram.hang_next("sendMessage", 30)  # the next send never gets its answer
        telegram.wait_for_call("sendMessage", count=calls + 1)
        # The one before it may still be on its way into Redis: then it would be in flight too
        # (sent twice, at least once being the promise).
        until(lambda: not answered_unrecorded(), "the answered sends recorded")
    finally:
        first.kill()
    delivered_at_kill = len(telegram.sent)

    second = BotProcess("worker.1", env, tmp_path)  # the same name: resumes its own entries
    try:
        telegram.wait_for_sent(count=total, timeout=60)
        assert second.stop() == 0
    finally:
        second.kill()
        client.close()

    counts = Counter(m.text for m in telegram.sent)
    report(
        "crash: published",
        total,
        "delivered",
        sum(counts.values()),
        "distinct",
        len(counts),
        "before the kill",
        delivered_at_kill,
        "duplicates",
        sum(counts.values()) - len(counts),
        "lost",
        total - len(counts),
    )
    assert len(counts) == total
    assert max(counts.values()) == 1, [text for text, n in counts.items() if n > 1]
    assert 80 <= delivered_at_kill < total


@TIMING
def test_scheduled_notifications_survive_a_sigkill_and_arrive_once_on_time(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """Two notifications held in Redis when the bot is killed -9: the one that fell due while
    it was down arrives when it is back, the other on time; each once."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = process_env(telegram, redis_url, channel)
    link_directly(client, telegram, range(1, 3), chat_base=30_000)
    first = BotProcess("worker.1", env, tmp_path)
    try:
        first.wait_ready()  # the due times count from a running bot, not from a slow start
        now = time.time()
        due = {"down": now + 2.5, "up": now + 6.0}
        for n, (name, when) in enumerate(due.items(), start=1):
            client.xadd(
                f"{channel}-stream",
                {"payload": note_json(n, f"due {name}", id=f"due-{name}", deliver_at=when)},
            )
        until(lambda: client.zcard("notify:scheduled") == 2, "both held in Redis", within=20)
        killed_at = first.kill()
        # The first falls due while no bot runs.
        time.sleep(max(due["down"] - time.time(), 0) + 0.2)
        assert not telegram.sent
        second = BotProcess("worker.1", env, tmp_path)
        try:
            second.wait_ready()
            ready_at = time.time()
            sent = telegram.wait_for_sent(lambda m: m.text.startswith("due "), count=2, timeout=20)
            until(lambda: client.zcard("notify:scheduled") == 0, "nothing left held", within=20)
            assert second.stop() == 0
        finally:
            second.kill()
    finally:
        first.kill()
        client.close()
    at = {m.text: m.at for m in telegram.sent}
    report(
        "scheduled across SIGKILL: killed",
        round(due["down"] - killed_at, 2),
        "s before the first was due; it arrived",
        round(at["due down"] - due["down"], 2),
        "s after its time (restarted 0.2 s after), the second",
        round(at["due up"] - due["up"], 2),
        "s after",
    )
    assert sorted(m.text for m in sent) == ["due down", "due up"]
    assert len([m for m in telegram.sent if m.text.startswith("due ")]) == 2
    assert at["due down"] >= due["down"]
    # The restart delivers once it is ready and the killed leader's heartbeat is DEAD_AFTER
    # old (it may have read entries after its last beat): "due up" on time, unless that is
    # later; then within a second (a busy machine may start the restart slowly).
    assert due["up"] <= at["due up"] < max(due["up"], ready_at, killed_at + DEAD_AFTER) + 1.0


def test_a_fan_out_killed_mid_send_reaches_every_recipient_once_after_restart(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """A fan-out to 120 users at Telegram's 30/s, killed -9 while a send hangs: the restarted
    bot resumes it, everyone gets it once (the cut-off send included), and one summary says so."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    receipts = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call,unused-ignore]
    receipts.subscribe(f"{channel}-receipts")
    env = process_env(
        telegram,
        redis_url,
        channel,
        RECEIPT_CHANNEL=f"{channel}-receipts",
    )
    users = range(1, 121)
    link_directly(client, telegram, users, chat_base=40_000)
    client.xadd(
        f"{channel}-stream:bulk",
        {"payload": json.dumps({"user_ids": list(users), "message": "News #49", "id": "news-49"})},
    )
    first = BotProcess("worker.1", env, tmp_path)
    try:
        telegram.wait_for_sent(lambda m: m.text == "News #49", count=40, timeout=30)
        calls = len(telegram.calls_to("sendMessage"))
        telegram.hang_next("sendMessage", 30)
        telegram.wait_for_call("sendMessage", count=calls + 1)
        first.kill()
        at_kill = len([m for m in telegram.sent if m.text == "News #49"])
        second = BotProcess("worker.1", env, tmp_path)
        try:
            summary = _next_receipt(receipts, "fanout_done", within=40)
            assert second.stop() == 0
        finally:
            second.kill()
    finally:
        first.kill()
        receipts.close()
        client.close()
    got = Counter(m.chat_id for m in telegram.sent if m.text == "News #49")
    report("fan-out across SIGKILL:", at_kill, "sent before the kill, then", summary)
    assert 40 <= at_kill < 120
    assert sorted(got) == [40_000 + user for user in users]
    assert max(got.values()) == 1
    assert summary == {
        "id": "news-49",
        "status": "fanout_done",
        "sent": 120,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }


def _next_receipt(pubsub: redis.client.PubSub, status: str, within: float) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.01))
        if message is not None and json.loads(message["data"])["status"] == status:
            return dict(json.loads(message["data"]))
    raise TimeoutError(f"no {status} receipt within {within} s")


def test_reminders_go_on_after_a_sigkill_between_two_and_each_is_sent_once(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    """A notification reminded every 2 s, 3 times: the bot is killed -9 after the first
    reminder and started again; the other two come, each once, then the one event that
    nobody acknowledged it."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    feedback = f"{channel}-feedback"
    env = process_env(
        telegram, redis_url, channel, REMIND_MIN_SECONDS="1", FEEDBACK_STREAM=feedback
    )
    link_directly(client, telegram, range(1, 2), chat_base=40_000)
    client.xadd(
        f"{channel}-stream",
        {"payload": note_json(1, "Pager", id="page-1", remind={"every": 2, "times": 3})},
    )

    def reminded() -> int:
        sent = client.hget(f"{REMIND_PREFIX}page-1", "sent")
        return 0 if sent is None else int(sent)

    first = BotProcess("worker.1", env, tmp_path)
    try:
        until(lambda: reminded() == 1, "the first reminder sent and recorded", within=20)
        first.kill()
    finally:
        first.kill()
    second = BotProcess("worker.1", env, tmp_path)
    try:
        until(lambda: client.xlen(feedback) == 1, "the unacknowledged event", within=30)
        assert second.stop() == 0
    finally:
        second.kill()
        entries: Any = client.xrange(feedback)
        client.close()
    pages = [m for m in telegram.sent if m.text == "Pager"]
    assert len(pages) == 4  # the notification and three reminders
    assert [m.reply_to for m in pages[1:]] == [pages[0].message_id] * 3
    [(_entry, fields)] = entries
    event = json.loads(fields[b"payload"])
    assert (event["type"], event["id"], event["reminders"]) == ("unacknowledged", "page-1", 3)
