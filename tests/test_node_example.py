"""The Node example of docs/guides/other-languages.md (tests/node/notify.mjs) run with `node`
against the real Redis and a running bot: its notifications reach the chat, its link links it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import redis.asyncio

from bot.chat.i18n import gettext, pick
from bot.chat.linking import LINKED
from bot.config.settings import Settings
from bot.store.client import priority_streams
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.helpers import token_of, wait_sent

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
GUIDE = ROOT / "docs" / "guides" / "other-languages.md"
IN_CI = os.environ.get("CI", "").lower() == "true"
USER = 4242  # the web app's user; their private chat with the bot has the same id
# The shape `Publisher.create_link` gives: 43 characters of token_urlsafe(32).
LINK = re.compile(r"https://t\.me/(?P<bot>\w+)\?start=(?P<token>[A-Za-z0-9_-]{43})")


def node() -> str:
    """The node binary; the test is skipped without it, and fails in CI."""
    found = shutil.which("node")
    if found is None:
        reason = "needs Node.js (`node` on PATH) to run tests/node/main.mjs"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return found


def test_the_guide_shows_the_node_module_this_test_runs() -> None:
    """The page's Node code is tests/node/notify.mjs, byte for byte: they cannot drift."""
    module = (NODE_DIR / "notify.mjs").read_text()
    blocks = re.findall(r"^```js\n(.*?)^```$", GUIDE.read_text(), re.M | re.S)
    assert module in blocks, (
        f"{GUIDE.relative_to(ROOT)} must show tests/node/notify.mjs as it is, in a ```js block"
    )


async def run_node(redis_url: str, *args: str) -> object:
    """`node tests/node/main.mjs <redis url> <args>`, in a process of its own so that the bot
    in this event loop goes on; its one line of JSON."""
    process = await asyncio.create_subprocess_exec(
        node(),
        str(NODE_DIR / "main.mjs"),
        redis_url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, f"node {' '.join(args)} failed: {err.decode()}"
    return json.loads(out)


async def test_the_node_example_links_a_chat_and_its_notifications_reach_it(
    running_bot: RunningBot,
    settings: Settings,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
) -> None:
    """createLink gives the deep link the bot takes (the user opens it: linked); publish
    (pub/sub) and addToStream (the stream, and the high-priority one) each arrive."""
    link = await run_node(settings.redis_url, "link", str(USER))
    assert isinstance(link, str)
    shape = LINK.fullmatch(link)
    assert shape is not None, link
    assert shape["bot"] == telegram.bot_user["username"]

    telegram.user_says(USER, f"/start {token_of(link)}")
    replies = await wait_sent(telegram, chat_id=USER)
    assert replies[-1].text == gettext(pick("en"), LINKED)
    # Single use, as the Python publisher's: the token is gone once it linked.
    assert await redis_client.exists(f"notify:link:{token_of(link)}") == 0

    note = {"user_id": USER, "message": "Your order has shipped"}
    heard = await run_node(
        settings.redis_url, "publish", settings.notification_channel, json.dumps(note)
    )
    assert heard == 1  # the bot, subscribed since it was ready
    await wait_sent(telegram, predicate=lambda m: m.text == "Your order has shipped", chat_id=USER)

    stream = settings.notification_stream
    for text, extra in (("From the stream", {}), ("Urgent, from the stream", {"priority": "high"})):
        entry = await run_node(
            settings.redis_url, "add", stream, json.dumps({**note, "message": text, **extra})
        )
        assert isinstance(entry, str)
        assert re.fullmatch(r"\d+-\d+", entry)
        await wait_sent(telegram, predicate=lambda m, text=text: m.text == text, chat_id=USER)
    high, normal, _ = priority_streams(stream)
    assert (await redis_client.xlen(normal), await redis_client.xlen(high)) == (1, 1)
