"""Admin commands through the emulator: who is obeyed where, the menus, one-line usage replies."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.admin import PRIVATE_ONLY_REPLY, REFUSAL
from bot.chat.menus import ADMIN_COMMANDS, PUBLIC_COMMANDS
from bot.chat.user import HELP
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.chat.admin_chat import (
    ADMIN,
    OTHER,
    admin_bot,  # noqa: F401 - the fixture `bot`
    ask,
    settings_with_admin,  # noqa: F401 - the fixture `admin_settings`
)
from tests.helpers import link_chat


def commands(entries: list[dict[str, str]]) -> list[str]:
    return [entry["command"] for entry in entries]


async def test_menus_show_admin_commands_only_in_admin_chats(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    public = [c.command for c in PUBLIC_COMMANDS]
    admin = [c.command for c in ADMIN_COMMANDS]
    assert commands(telegram.commands_for()) == public
    assert commands(telegram.commands_for({"type": "chat", "chat_id": ADMIN})) == public + admin
    assert telegram.commands_for({"type": "chat", "chat_id": OTHER}) == []


@pytest.mark.parametrize("command", [c.command for c in ADMIN_COMMANDS])
async def test_a_non_admin_is_refused_and_learns_nothing(
    bot: RunningBot, telegram: FakeTelegram, command: str
) -> None:
    with capture_logs() as logs:
        reply = await ask(telegram, OTHER, f"/{command} 42 hello")
    assert reply == REFUSAL
    [refusal] = [e for e in logs if e["event"] == "admin_refused"]
    assert refusal["user_id"] == OTHER


async def test_an_admin_in_a_group_is_obeyed_but_another_member_is_not(
    bot: RunningBot, telegram: FakeTelegram
) -> None:
    group = {"id": -100555, "type": "supergroup", "title": "ops"}
    assert (await ask(telegram, OTHER, "/health", chat=group)) == REFUSAL
    assert "redis: ok" in await ask(telegram, ADMIN, "/health", chat=group)


@pytest.mark.parametrize("command", ["/link 42", "/users", "/whois 42", "/deadletters"])
async def test_commands_that_reveal_links_or_user_data_answer_only_in_private(
    bot: RunningBot, telegram: FakeTelegram, command: str
) -> None:
    """In a group every member would see the deep link (and could redeem it, taking over user
    42's notifications) or the ids: the admin is told to ask in private, nothing more."""
    group = {"id": -100556, "type": "group", "title": "team"}
    reply = await ask(telegram, ADMIN, command, chat=group)
    assert reply == PRIVATE_ONLY_REPLY
    assert "t.me" not in reply


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("/send abc hello", "Usage: /send USER_ID TEXT"),
        ("/send 42", "Usage: /send USER_ID TEXT"),
        ("/whois", "Usage: /whois USER_ID"),
        ("/whois x", "Usage: /whois USER_ID"),
        ("/users zero", "Usage: /users [page]"),
        ("/link", "Usage: /link USER_ID [group|channel]"),
        ("/link 42 forum", "Usage: /link USER_ID [group|channel]"),
        ("/retry", "Usage: /retry ID|all"),
        ("/retry 99-99-99", "Usage: /retry ID|all, with an ID from /deadletters"),
        ("/deadletters 500", "Usage: /deadletters [n], n from 1 to 50"),
        ("/broadcast", "Usage: /broadcast TEXT"),
    ],
)
async def test_bad_arguments_get_a_one_line_usage(
    bot: RunningBot, telegram: FakeTelegram, command: str, usage: str
) -> None:
    assert await ask(telegram, ADMIN, command) == usage


async def test_a_slow_admin_command_does_not_hold_up_other_users(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    calls = len(telegram.calls_to("sendMessage"))
    telegram.hang_next("sendMessage", 3.0)  # the /send delivery: Telegram is slow to answer
    telegram.user_says(ADMIN, "/send 42 slow one")
    await asyncio.to_thread(telegram.wait_for_call, "sendMessage", count=calls + 1)

    assert await ask(telegram, OTHER, "/help") == HELP  # answered while /send still waits
    assert not [m for m in telegram.sent if m.chat_id == ADMIN and m.text.startswith("User 42")]
