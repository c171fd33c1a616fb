"""demo and schema: commands that bring what they need and read no setting (the bench runs
in a process of its own: tests/test_cli.py)."""

from __future__ import annotations

import json
import re

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
        "deployment",
    }
    properties = schema["properties"]
    assert properties["format"]["enum"] == ["text", "html", "markdown"]
    assert properties["op"]["enum"] == ["send", "edit", "delete", "cancel", "digest"]
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
    # the order, the one with buttons, and the order updated in place
    assert re.search(r"delivered\s+3\s+3", out)
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
