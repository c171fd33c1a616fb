"""publish, enqueue, edit, delete, cancel, ack and fan-out: what each puts on Redis and prints."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from bot.notification.schema import Notification
from bot.publisher.manifest import KNOWN_TO_EVERY_BOT
from bot.store import manifest
from bot.store.deployment import BOT_ID
from bot.testing import FakeTelegram
from tests.cli.conftest import Cli, emulator_env, stream_payloads


def test_enqueue_and_publish_add_to_the_stream_and_publish_via_pubsub_reports_receivers(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    env = emulator_env(telegram, redis_url, channel, NOTIFICATION_STREAM=f"{channel}-stream")

    queued = cli("enqueue", "42", "hello later", "--id", "k1", env=env)
    published = cli("publish", "42", "hello now", "--priority", "high", env=env)
    broadcast = cli("publish", "42", "hello, anyone?", "--via", "pubsub", env=env)
    refused = cli("enqueue", "42", "   ", env=env)

    assert queued.returncode == 0, queued.stderr
    entries: Any = sync_redis.xrange(f"{channel}-stream")
    [(entry_id, fields)] = entries
    assert queued.stdout.strip() == entry_id.decode()
    assert json.loads(fields[b"payload"]) == {"user_id": 42, "message": "hello later", "id": "k1"}
    high: Any = sync_redis.xrange(f"{channel}-stream:high")
    [(high_id, high_fields)] = high
    assert (published.returncode, published.stdout.strip()) == (
        0,
        f"queued on stream {channel}-stream:high: {high_id.decode()}",
    )
    assert json.loads(high_fields[b"payload"])["message"] == "hello now"
    assert (broadcast.returncode, broadcast.stdout.strip()) == (
        0,
        f"published on channel {channel}: 0 receivers (no bot is listening: it is lost)",
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: invalid notification: message: must not be empty"


def test_publish_needs_no_bot_token(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    """The web app's server can publish from the shell without the bot's secret."""
    env = {"REDIS_URL": redis_url, "NOTIFICATION_CHANNEL": channel, "NOTIFICATION_STREAM": ""}
    result = cli("publish", "42", "hello", env=env)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0,
        f"published on channel {channel} (NOTIFICATION_STREAM is empty): 0 receivers "
        "(no bot is listening: it is lost)",
        "",
    )


def test_publish_via_pubsub_reaches_only_the_bot_of_its_database(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    """The CLI marks what it publishes on the channel, as the publisher does."""
    database = sync_redis.connection_pool.connection_kwargs.get("db", 0)
    sync_redis.set(BOT_ID, "111")  # the bot of this database
    subscriber = sync_redis.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(channel)
    try:
        env = emulator_env(telegram, redis_url, channel)
        result = cli("publish", "42", "hi", "--via", "pubsub", env=env)
        assert (result.returncode, result.stdout.strip()) == (
            0,
            f"published on channel {channel}: 1 receiver",
        )
        deadline = time.monotonic() + 10
        message = None
        while message is None and time.monotonic() < deadline:  # None: the subscribe reply
            message = subscriber.get_message(timeout=1)
        assert message is not None
        assert json.loads(message["data"]) == {
            "user_id": 42,
            "message": "hi",
            "deployment": f"111/{database}",
        }
    finally:
        subscriber.close()


def test_edit_delete_cancel_and_fan_out_go_on_the_stream_of_their_priority(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    stream = f"{channel}-stream"
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream}
    commands = [
        ["enqueue", "42", "Code 1234", "--priority", "high", "--ttl", "300"],
        ["enqueue", "42", "Later", "--deliver-at", "+60", "--expires-at", "2099-01-01T00:00Z"],
        ["edit", "order-17", "42", "<b>Delivered</b>", "--format", "html", "--action", "Rate=r"],
        ["edit", "order-17", "42", "--no-buttons", "--priority", "high"],
        ["delete", "order-17", "42"],
        ["cancel", "sale-1"],
        ["fan-out", "--users", "1,2,3", "Sale", "--id", "sale-1", "--receipts", "each"],
        ["fan-out", "--all", "Hi all", "--priority", "normal", "--expires-at", "+3600"],
    ]
    before = time.time()
    results = [cli(*command, env=env) for command in commands]
    after = time.time()

    for result in results:
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    held = stream_payloads(sync_redis, stream)
    entry_ids = [entry_id for entries in held.values() for entry_id, _ in entries]
    assert sorted(entry_ids) == sorted(result.stdout.strip() for result in results)
    later, everyone = held["normal"][0][1], held["normal"][-1][1]
    assert before + 60 - 0.001 <= later.pop("deliver_at") <= after + 60 + 0.001
    assert before + 3600 <= everyone.pop("expires_at") <= after + 3600
    payloads = {priority: [payload for _, payload in entries] for priority, entries in held.items()}
    assert payloads == {
        "high": [
            {"user_id": 42, "message": "Code 1234", "ttl": 300, "priority": "high"},
            {"op": "edit", "id": "order-17", "user_id": 42, "buttons": [], "priority": "high"},
        ],
        "normal": [
            {"user_id": 42, "message": "Later", "expires_at": 4070908800},
            {
                "op": "edit",
                "id": "order-17",
                "user_id": 42,
                "message": "<b>Delivered</b>",
                "format": "html",
                "buttons": [[{"text": "Rate", "action": "r"}]],
            },
            {"op": "delete", "id": "order-17", "user_id": 42},
            {"op": "cancel", "id": "sale-1"},
            {"audience": "all", "message": "Hi all", "priority": "normal"},
        ],
        "bulk": [
            {"user_ids": [1, 2, 3], "message": "Sale", "id": "sale-1", "receipts": "each"},
        ],
    }


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["enqueue", "42", "hi", "--priority", "urgent"],
            "python -m bot enqueue: error: argument --priority: invalid choice: 'urgent'",
        ),
        (
            ["enqueue", "42", "hi", "--deliver-at", "2026-12-01T09:00:00"],
            "error: invalid notification: deliver_at: needs a time zone",
        ),
        (
            ["publish", "42", "hi", "--deliver-at", "3600"],  # Unix seconds or from now? Neither
            "python -m bot publish: error: argument --deliver-at: '3600' is a bare number: "
            "+3600 for 3600 seconds from now",
        ),
        (
            ["enqueue", "42", "hi", "--expires-at", "2020-01-01T00:00:00Z"],
            "error: invalid notification: expires_at is in the past",
        ),
        (
            ["enqueue", "42", "hi", "--ttl", "60", "--expires-at", "+600"],
            "error: invalid notification: ttl and expires_at: give one of them, not both",
        ),
        (
            ["edit", "order-17", "42"],
            "error: invalid notification: op edit needs a message or buttons to change",
        ),
        (
            ["edit", "order-17", "42", "--no-buttons", "--button", "Track=https://shop.example"],
            "error: --no-buttons and --button/--action: give one of them, not both",
        ),
        (
            ["delete", "order-17"],
            "python -m bot delete: error: the following arguments are required: USER_ID",
        ),
        (
            ["fan-out", "Sale"],
            "python -m bot fan-out: error: one of the arguments --users --all is required",
        ),
        (
            ["fan-out", "--users", "1,x", "Sale"],
            "python -m bot fan-out: error: argument --users: expected user ids separated by "
            "commas, got '1,x'",
        ),
        (
            ["fan-out", "--users", "", "Sale"],
            "error: invalid notification: user_ids: must not be empty",
        ),
        (
            ["fan-out", "--users", "1,2", "--all", "Sale"],
            "python -m bot fan-out: error: argument --all: not allowed with argument --users",
        ),
        (
            ["publish", "42", "--template", "order_shipped", "--data", "[17]"],
            "python -m bot publish: error: argument --data: expected a JSON object {...}, "
            "got '[17]'",
        ),
        (
            ["fan-out", "--all", "--template", "order_shipped", "--data", "{order: 17}"],
            "python -m bot fan-out: error: argument --data: not valid JSON (Expecting property "
            "name enclosed in double quotes",
        ),
        (
            ["publish", "42"],
            "error: invalid notification: message: field required (or a template)",
        ),
        (
            ["enqueue", "42", "hi", "--template", "order_shipped"],
            "error: invalid notification: message and template: give one of them, not both",
        ),
        (
            ["enqueue", "42", "--template", "order_shipped", "--format", "html"],
            "error: invalid notification: format: a template brings its own; leave it out",
        ),
        (
            ["enqueue", "42", "hi", "--data", '{"order": 17}'],
            "error: invalid notification: data: only with a template",
        ),
        (
            # Nothing declared on this database: a bot older than templates, or none yet.
            ["publish", "42", "--template", "order_shipped", "--data", '{"order": 17}'],
            "error: the running bot does not say which fields it reads (it is older than this "
            "publisher): it would ignore 'template' and 'data'; upgrade the bot",
        ),
        (
            ["enqueue", "42", "hi", "--id", "o-17", "--remind", "600"],
            "python -m bot enqueue: error: argument --remind: expected EVERY,TIMES (seconds "
            "between reminders, how many at most), e.g. 600,3; got '600'",
        ),
        (
            ["publish", "42", "hi", "--id", "o-17", "--remind", "ten,3"],
            "python -m bot publish: error: argument --remind: expected EVERY,TIMES",
        ),
        (
            ["enqueue", "42", "hi", "--id", "o-17", "--remind", "600,3,1"],
            "python -m bot enqueue: error: argument --remind: expected EVERY,TIMES",
        ),
        (
            ["enqueue", "42", "hi", "--id", "o-17", "--remind", "30,3"],
            "error: invalid notification: remind: every: 30 s, under 60 s (REMIND_MIN_SECONDS)",
        ),
        (
            ["enqueue", "42", "Where?", "--reply"],
            "error: invalid notification: reply: needs an id (what the answer is reported with)",
        ),
        (
            ["publish", "42", "Rate us", "--id", "o", "--reply", "--action", "Good=good"],
            "error: invalid notification: reply and buttons: Telegram cannot show a reply field",
        ),
        (
            ["fan-out", "--all", "Sale", "--id", "sale", "--reply"],
            "python -m bot: error: unrecognized arguments: --reply",  # not on a fan-out
        ),
        (
            ["ack", "order-17"],
            "python -m bot ack: error: the following arguments are required: USER_ID",
        ),
    ],
)
def test_a_bad_flag_is_one_line_with_exit_2_and_nothing_is_added(
    cli: Cli,
    redis_url: str,
    channel: str,
    sync_redis: redis.Redis,
    args: list[str],
    error: str,
) -> None:
    stream = f"{channel}-stream"
    result = cli(*args, env={"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream})
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(error)
    assert result.stdout == ""
    assert stream_payloads(sync_redis, stream) == {}


ORDER_SHIPPED = {"languages": ["en"], "variables": ["eta", "order"], "format": "html"}


def test_a_template_and_its_data_go_out_checked_against_what_the_bot_declared(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    """--template and --data instead of MESSAGE, on publish, enqueue, edit and fan-out."""
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(Notification.model_fields)))
    sync_redis.set(manifest.TEMPLATES, json.dumps({"order_shipped": ORDER_SHIPPED}))
    stream = f"{channel}-stream"
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream}
    data = ["--template", "order_shipped", "--data", '{"order": 17, "eta": "2026-12-24"}']
    commands = [
        ["publish", "42", *data, "--id", "o-17"],
        ["enqueue", "43", *data, "--silent"],
        ["edit", "o-17", "42", *data],
        ["fan-out", "--users", "1,2", *data],
    ]
    results = [cli(*command, env=env) for command in commands]
    missing = cli("publish", "42", *data[:3], '{"order": 17}', env=env)
    unknown = cli("enqueue", "42", "--template", "order_shiped", env=env)

    for result in results:
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    shipped = {"template": "order_shipped", "data": {"order": 17, "eta": "2026-12-24"}}
    assert {
        priority: [payload for _, payload in entries]
        for priority, entries in stream_payloads(sync_redis, stream).items()
    } == {
        "normal": [
            {"user_id": 42, **shipped, "id": "o-17"},
            {"user_id": 43, **shipped, "silent": True},
            {"op": "edit", "id": "o-17", "user_id": 42, **shipped},
        ],
        "bulk": [{"user_ids": [1, 2], **shipped}],
    }
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2,
        "",
        "error: invalid notification: data.eta: missing (template order_shipped)\n",
    )
    assert (unknown.returncode, unknown.stderr) == (
        2,
        "error: invalid notification: template: 'order_shiped' is not one of the running "
        "bot's: order_shipped\n",
    )


def test_ack_goes_on_the_stream_of_its_priority_unless_the_bot_knows_no_reminders(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    stream = f"{channel}-stream"
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream}
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(Notification.model_fields)))
    normal = cli("ack", "order-17", "42", env=env)
    high = cli("ack", "order-17", "42", "--priority", "high", env=env)
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(KNOWN_TO_EVERY_BOT)))  # before issue 30
    refused = cli("ack", "order-17", "42", env=env)

    held = stream_payloads(sync_redis, stream)
    ack = {"op": "ack", "id": "order-17", "user_id": 42}
    assert held == {
        "high": [(high.stdout.strip(), {**ack, "priority": "high"})],
        "normal": [(normal.stdout.strip(), ack)],
    }
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        2,
        "",
        "error: the running bot does not read 'remind' (notify:fields): it sends no reminders "
        "and knows no op ack; upgrade the bot\n",
    )
