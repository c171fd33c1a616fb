"""Link events end to end: each way a chat is linked or unlinked adds one event for the web app."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher, Publisher
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import publish, reply_to, token_of, wait_sent
from tests.link_events import (
    link_events_publishers,  # noqa: F401 - the fixture `publishers`
    link_events_stream,  # noqa: F401 - the fixture `stream`
    read_async,
    read_sync,
)
from tests.waiting import eventually

ADMIN = 1
MEMBER = 77  # who opens a deep link in a group


@pytest.fixture
def link_settings(settings: Settings, stream: str) -> Settings:
    return settings.model_copy(
        update={"link_events_stream": stream, "admin_ids": frozenset({ADMIN})}
    )


@pytest.fixture
async def bot(
    link_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> AsyncIterator[RunningBot]:
    telegram.add_chat(ADMIN)  # the admin has talked to the bot before: the menu can be set
    running = await start_bot(link_settings)
    yield running
    if not running.task.done():
        await running.shutdown()


async def _chat_ids(bot: RunningBot, user_id: int, expected: list[int]) -> bool:
    return [chat.chat_id for chat in await bot.bot.registry.chats_for(user_id)] == expected


async def _no_chats(bot: RunningBot, user_id: int) -> bool:
    return await bot.bot.registry.chats_for(user_id) == ()


async def open_link(
    telegram: FakeTelegram,
    client: redis.asyncio.Redis,
    user_id: int,
    chat_id: int,
    *,
    group: dict[str, object] | None = None,
) -> str:
    """Open a fresh deep link for `user_id` in the private chat `chat_id`, or in `group`;
    returns its token."""
    token = token_of(await AsyncPublisher(client).create_link(user_id))
    await reply_to(telegram, MEMBER if group else chat_id, f"/start {token}", chat=group)
    return token


def logged(logs: Iterable[Mapping[str, Any]], event: str) -> list[tuple[int, str]]:
    return [(entry["user_id"], entry["reason"]) for entry in logs if entry["event"] == event]


# -- every way of linking and unlinking, end to end ---------------------------------------


@pytest.mark.usefixtures("bot")
async def test_a_deep_link_adds_a_linked_event_the_web_app_reads(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    stream: str,
) -> None:
    with capture_logs() as logs:
        await open_link(telegram, redis_client, 42, 9001)

    _sync, async_ = publishers
    assert await read_async(async_) == [("linked", 42, "start")]
    assert logged(logs, "chat_linked") == [(42, "start")]
    entries: Any = await redis_client.xrange(stream)
    [(_id, fields)] = entries
    payload = json.loads(fields[b"payload"])
    assert set(payload) == {"type", "user_id", "reason", "at", "chat", "chats"}
    assert (payload["chat"], payload["chats"]) == ("private", 1)
    # The actions stream's format: ISO 8601, milliseconds, UTC.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", payload["at"])
    assert datetime.fromisoformat(payload["at"]).tzinfo == UTC


@pytest.mark.usefixtures("bot")
async def test_stop_adds_an_unlinked_event_and_stop_in_an_unlinked_chat_adds_none(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    await open_link(telegram, redis_client, 42, 9001)
    with capture_logs() as logs:
        await reply_to(telegram, 9001, "/stop")
        await reply_to(telegram, 9001, "/stop")  # not linked any more: nothing changes

    sync, _async = publishers
    assert await read_sync(sync) == [("linked", 42, "start"), ("unlinked", 42, "stop")]
    assert logged(logs, "chat_unlinked") == [(42, "stop")]


async def test_a_403_adds_an_unlinked_event_with_reason_blocked(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    link_settings: Settings,
) -> None:
    await open_link(telegram, redis_client, 42, 9001)
    telegram.block(9001, notify=False)  # only the 403 tells

    publish(link_settings, user_id=42, message="are you there?")

    await eventually(lambda: bot.bot.stats.outcomes[Outcome.BLOCKED] == 1)  # unlinked before
    _sync, async_ = publishers
    assert await read_async(async_) == [("linked", 42, "start"), ("unlinked", 42, "blocked")]
    assert await bot.bot.registry.chats_for(42) == ()


async def test_a_user_who_blocks_the_bot_is_unlinked_at_once_with_reason_blocked(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    """Telegram tells the bot (my_chat_member: "kicked"): no notification needs to fail."""
    await open_link(telegram, redis_client, 42, 9001)
    telegram.block(9001)

    await eventually(lambda: _no_chats(bot, 42))
    _sync, async_ = publishers
    assert await read_async(async_) == [("linked", 42, "start"), ("unlinked", 42, "blocked")]
    assert await bot.bot.registry.chats_for(42) == ()


@pytest.mark.usefixtures("bot")
async def test_admin_unlink_adds_an_unlinked_event_with_reason_admin(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    await open_link(telegram, redis_client, 42, 9042)
    with capture_logs() as logs:
        assert (
            await reply_to(telegram, ADMIN, "/unlink 42")
        ).text == "Unlinked user 42 (chat 9042)."
        assert (await reply_to(telegram, ADMIN, "/unlink 42")).text == "User 42 was not linked."

    sync, _async = publishers
    assert await read_sync(sync) == [("linked", 42, "start"), ("unlinked", 42, "admin")]
    assert logged(logs, "chat_unlinked") == [(42, "admin")]


@pytest.mark.usefixtures("bot")
@pytest.mark.parametrize("which", ["sync", "async"])
async def test_the_web_apps_unlink_adds_an_unlinked_event_with_reason_web_app(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    which: str,
) -> None:
    await open_link(telegram, redis_client, 42, 9001)
    sync, async_ = publishers

    if which == "sync":
        assert sync.unlink(42) is True
        assert sync.unlink(42) is False  # nothing to unlink: no event
    else:
        assert await async_.unlink(42) is True
        assert await async_.unlink(42) is False

    assert await read_async(async_) == [("linked", 42, "start"), ("unlinked", 42, "web_app")]
    assert not await async_.is_linked(42)


@pytest.mark.usefixtures("bot")
async def test_a_chat_linked_to_another_account_unlinks_the_first_with_reason_relinked(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    await open_link(telegram, redis_client, 1001, 9001)
    with capture_logs() as logs:
        await open_link(telegram, redis_client, 1002, 9001)  # the same chat, another account

    sync, _async = publishers
    assert await read_sync(sync) == [
        ("linked", 1001, "start"),
        ("unlinked", 1001, "relinked"),
        ("linked", 1002, "start"),
    ]
    assert logged(logs, "chat_linked") == [(1002, "start")]


@pytest.mark.usefixtures("bot")
async def test_a_user_who_links_a_second_chat_stays_linked_one_linked_event(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    await open_link(telegram, redis_client, 42, 9001)
    await open_link(telegram, redis_client, 42, 9002)  # the link moves to the new chat

    _sync, async_ = publishers
    assert await read_async(async_) == [("linked", 42, "start"), ("linked", 42, "start")]
    assert await AsyncPublisher(redis_client).is_linked(42)


@pytest.mark.usefixtures("bot")
async def test_a_used_token_adds_no_event(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    token = await open_link(telegram, redis_client, 42, 9001)
    await reply_to(telegram, 9001, f"/start {token}")  # the same link again, same chat
    await reply_to(telegram, 6666, f"/start {token}")  # and in another chat

    sync, _async = publishers
    assert await read_sync(sync) == [("linked", 42, "start")]


async def test_a_group_that_becomes_a_supergroup_keeps_its_link_with_no_event(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    link_settings: Settings,
) -> None:
    telegram.add_group(-4001, title="team", creator=MEMBER)
    token = token_of(await AsyncPublisher(redis_client).create_link(42, group=True))
    telegram.add_bot(-4001, by=MEMBER, start=token)
    await wait_sent(telegram, chat_id=-4001)  # linked
    telegram.migrate_group(-4001, -1001000004001)
    # Telegram's service message in the old group: the link follows before any send.
    await eventually(lambda: _chat_ids(bot, 42, [-1001000004001]))

    publish(link_settings, user_id=42, message="to the team")

    await wait_sent(telegram, chat_id=-1001000004001, predicate=lambda m: m.text == "to the team")
    assert [c.chat_id for c in await bot.bot.registry.chats_for(42)] == [-1001000004001]
    _sync, async_ = publishers
    assert await read_async(async_) == [("linked", 42, "start")]
