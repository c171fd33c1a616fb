"""The flags of the commands that send: each gives a field of the notification."""

from __future__ import annotations

import json
from typing import Any

import redis

from tests.cli.conftest import Cli


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
