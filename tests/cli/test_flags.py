"""The flags of the commands that send: each gives a field of the notification."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from bot.notification.schema import Notification
from bot.publisher.manifest import KNOWN_TO_EVERY_BOT
from bot.store import manifest
from tests.cli.conftest import Cli, stream_payloads


def test_publish_flags_give_every_field_of_the_notification(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": f"{channel}-stream"}
    flags = ["--format", "html", "--action", "Received=order-17:received"]
    flags += ["--button", "Track=https://shop.example/t/17", "--silent", "--no-preview"]
    flags += ["--protect", "--thread-id", "7", "--document", "https://shop.example/i.pdf"]
    flags += ["--chats", "groups"]
    queued = cli("enqueue", "42", "<b>Hi</b>", *flags, env=env)
    bad_button = cli("enqueue", "42", "hi", "--button", "no-equals", env=env)
    bad_html = cli("enqueue", "42", "<b>Hi", "--format", "html", env=env)

    assert queued.returncode == 0, queued.stderr
    entries: Any = sync_redis.xrange(f"{channel}-stream")
    [(_, fields)] = entries
    assert json.loads(fields[b"payload"]) == {
        "user_id": 42,
        "message": "<b>Hi</b>",
        "format": "html",
        "buttons": [  # in the order the flags were given
            [{"text": "Received", "action": "order-17:received"}],
            [{"text": "Track", "url": "https://shop.example/t/17"}],
        ],
        "silent": True,
        "preview": False,
        "protect": True,
        "thread_id": 7,
        "document": "https://shop.example/i.pdf",
        "chats": "groups",
    }
    assert bad_button.returncode == 2
    assert "expected TEXT=URL, got 'no-equals'" in bad_button.stderr
    assert (bad_html.returncode, bad_html.stderr.strip()) == (
        2,
        "error: invalid notification: message: unclosed <b> at character 1",
    )


@pytest.mark.parametrize("command", ["publish", "enqueue"])
def test_reply_and_remind_flags_give_the_fields_the_bot_reads(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis, command: str
) -> None:
    """--reply alone, --reply PLACEHOLDER or --reply=PLACEHOLDER, --remind EVERY,TIMES; a bot
    that does not read them gets nothing."""
    stream = f"{channel}-stream"
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream}
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(Notification.model_fields)))
    results = [
        cli(command, "42", "Where?", "--id", "o-1", "--reply", env=env),
        cli(command, "42", "Where?", "--id", "o-2", "--reply", "At the door", env=env),
        cli(command, "42", "Where?", "--reply=Your answer", "--id", "o-3", env=env),
        cli(command, "42", "Table?", "--id", "t-1", "--remind", "600,3", env=env),
    ]
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(KNOWN_TO_EVERY_BOT)))  # before issue 30
    refused = cli(command, "42", "Table?", "--id", "t-2", "--remind", "600,3", env=env)

    for result in results:
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert [payload for _, payload in stream_payloads(sync_redis, stream)["normal"]] == [
        {"user_id": 42, "message": "Where?", "id": "o-1", "reply": True},
        {"user_id": 42, "message": "Where?", "id": "o-2", "reply": {"placeholder": "At the door"}},
        {"user_id": 42, "message": "Where?", "id": "o-3", "reply": {"placeholder": "Your answer"}},
        {"user_id": 42, "message": "Table?", "id": "t-1", "remind": {"every": 600, "times": 3}},
    ]
    assert (refused.returncode, refused.stderr) == (
        2,
        "error: the running bot does not read 'remind' (notify:fields): it would ignore it; "
        "upgrade the bot\n",
    )


def test_remind_min_seconds_lowered_for_the_bot_is_what_the_command_checks(
    cli: Cli, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    """The command reads the bot's settings: REMIND_MIN_SECONDS=5 lets --remind 5,2 through."""
    stream = f"{channel}-stream"
    env = {"REDIS_URL": redis_url, "NOTIFICATION_STREAM": stream, "REMIND_MIN_SECONDS": "5"}
    sync_redis.set(manifest.FIELDS, json.dumps(sorted(Notification.model_fields)))
    sent = cli("enqueue", "42", "Table?", "--id", "t-1", "--remind", "5,2", env=env)
    short = cli("enqueue", "42", "Table?", "--id", "t-1", "--remind", "4,2", env=env)

    assert (sent.returncode, sent.stderr) == (0, "")
    [(_, payload)] = stream_payloads(sync_redis, stream)["normal"]
    assert payload["remind"] == {"every": 5, "times": 2}
    assert (short.returncode, short.stderr) == (
        2,
        "error: invalid notification: remind: every: 4 s, under 5 s (REMIND_MIN_SECONDS)\n",
    )
