"""demo and schema: commands that bring what they need and read no setting (the bench runs
in a process of its own: tests/test_cli.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.conftest import Cli
from tests.helpers import DEMO_FAST


def test_schema_prints_the_notification_json_schema(cli: Cli) -> None:
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "required" not in schema  # who needs user_id and message depends on op and fan-out
    assert set(schema["properties"]) == {
        "user_id",
        "message",
        "template",
        "data",
        "id",
        "format",
        "buttons",
        "silent",
        "preview",
        "protect",
        "thread_id",
        "photo",
        "document",
        "op",
        "expires_at",
        "ttl",
        "deliver_at",
        "priority",
        "user_ids",
        "audience",
        "receipts",
        "category",
        "mute_button",
        "chats",
        "reply",
        "remind",
        "deployment",
    }
    properties = schema["properties"]
    assert properties["format"]["enum"] == ["text", "html", "markdown"]
    assert properties["op"]["enum"] == [
        "send",
        "edit",
        "delete",
        "cancel",
        "digest",
        "ack",
        "remind",
    ]
    assert properties["receipts"]["enum"] == ["summary", "each"]
    assert properties["chats"]["enum"] == ["all", "private", "groups", "channels"]


def test_demo_plays_the_whole_story_offline(cli: Cli) -> None:
    """No REDIS_URL, no token, no network: embedded Redis, the emulator, the real bot."""
    result = cli("demo", env=DEMO_FAST)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(embedded fakeredis)" in out
    assert re.search(r"bot -> Ada\s+Done: this chat is now linked", out)
    assert re.search(r"bot -> Ada\s+Your order is on its way!\s+\[\d+ ms after publish\]", out)
    assert "rejects it, nothing sent: user_id: input should be a valid integer" in out
    # One template, each reader's language: Ada's app is English, Jonas's German.
    assert re.search(r"bot -> Jonas\s+Erledigt: Dieser Chat ist jetzt verknüpft", out)
    assert re.search(r"bot -> Ada\s+Order 19 is ready on Dec 23, 2026: €1,234\.50 to pay", out)
    assert re.search(
        r"bot -> Jonas\s+Bestellung 19 liegt am 23\.12\.2026 bereit: 1\.234,50\s€", out
    )
    assert "buttons: [Öffnungszeiten -> https://shop.example/hours]" in out
    templates = re.search(r"TEMPLATES_DIR=(\S+) \(the demo's own", out)
    assert templates is not None
    assert not Path(templates[1]).exists()  # its template file went with it
    # the order, the one with buttons, the order updated in place, and the template twice
    assert re.search(r"delivered\s+7\s+7", out)  # a reminder is no notification
    assert re.search(
        r"bot -> Ada\s+Where should we leave order #20\?\n\s+\(a reply field opens", out
    )
    assert re.search(r"-> reply from user 42 to order-20: 'In the garage, please'", out)
    assert re.search(r"message \d+, a reply to \d+: the same again", out)
    assert re.search(r"-> reaction from user 42 to table-8: added \['👍'\]", out)
    assert re.search(r"reminders\s+1\s+1", out)
    assert re.search(r"edited\s+2\s+2", out)
    assert re.search(r"dead-lettered\s+1\s+1", out)
    assert "Now for real:" in out
    assert result.stderr == ""


def test_the_demo_says_why_a_message_waited_for_its_chat(cli: Cli) -> None:
    """The 4th message to Ada's chat waits ~2.6 s for its pace: the transcript said nothing of
    it, and the story seemed to hang."""
    result = cli("demo")
    assert result.returncode == 0, result.stderr
    explained = r"\(it waited \d\.\d s for Ada's chat: .*3 messages in any 3 seconds"
    assert re.search(explained, result.stdout)
