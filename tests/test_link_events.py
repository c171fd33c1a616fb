"""Link events end to end: every way a chat is linked or unlinked adds one event to the link
events stream, in the transaction of the change, and the web app reads it with the publisher."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.publisher import AsyncPublisher, LinkEvent, Publisher
from bot.store.link_events import LinkEvents
from bot.store.registry import ChatRegistry, Linking
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import publish, reply_to, token_of, wait_sent
from tests.waiting import eventually

ADMIN = 1
MEMBER = 77  # who opens a deep link in a group
FAKE_STREAM = "links"
QUIET = 0.2  # a read ends once no event came for this long: every event was written before it
Seen = list[tuple[str, int, str]]  # (type, user id, reason)


@pytest.fixture
def stream(channel: str) -> str:
    return f"{channel}-links"


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


@pytest.fixture
async def publishers(
    redis_url: str, redis_client: redis.asyncio.Redis, stream: str
) -> AsyncIterator[tuple[Publisher, AsyncPublisher]]:
    """The web app's two publishers, on this test's link events stream."""
    sync = Publisher.from_url(redis_url, link_events_stream=stream)
    async_ = AsyncPublisher.from_url(redis_url, link_events_stream=stream)
    yield sync, async_
    sync.client.delete(stream)
    sync.client.close()
    await async_.client.aclose()


def seen(events: Iterable[LinkEvent]) -> Seen:
    return [(event.type, event.user_id, event.reason) for event in events]


async def read_sync(publisher: Publisher, group: str = "web") -> Seen:
    """The events `group` has not had yet, read by the blocking publisher in a thread of its
    own: it must not block the event loop the bot runs in."""

    def read() -> list[LinkEvent]:
        return list(publisher.link_events(group, stop_after=QUIET, wait=QUIET / 2))

    return seen(await asyncio.to_thread(read))


async def _chat_ids(bot: RunningBot, user_id: int, expected: list[int]) -> bool:
    return [chat.chat_id for chat in await bot.bot.registry.chats_for(user_id)] == expected


async def _no_chats(bot: RunningBot, user_id: int) -> bool:
    return await bot.bot.registry.chats_for(user_id) == ()


async def read_async(publisher: AsyncPublisher, group: str = "web") -> Seen:
    """The events `group` has not had yet, read by the asyncio publisher."""
    return seen([e async for e in publisher.link_events(group, stop_after=QUIET, wait=QUIET / 2)])


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


# -- the reader ---------------------------------------------------------------------------


async def test_an_event_is_acknowledged_when_the_loop_moves_on_and_comes_again_if_left(
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    stream: str,
) -> None:
    registry = ChatRegistry(redis_client, LinkEvents(stream))
    await registry.link(1, 9001)  # no event: not a deep link
    await registry.unlink_user(1, reason="admin")
    await registry.redeem(await registry.create_link_token(2, 60), 9002)
    sync, async_ = publishers

    def first_only() -> Seen:
        for event in sync.link_events("shop", stop_after=QUIET, wait=QUIET / 2):
            return seen([event])  # handled, but the loop was left: it stays pending
        return []

    assert await asyncio.to_thread(first_only) == [("unlinked", 1, "admin")]
    # Pending first, for this consumer, from either publisher; then the rest, once each.
    assert await read_async(async_, "shop") == [("unlinked", 1, "admin"), ("linked", 2, "start")]
    assert await read_sync(sync, "shop") == []
    assert await read_async(async_, "another-app") == [
        ("unlinked", 1, "admin"),
        ("linked", 2, "start"),
    ]  # a new group starts at the stream's start


async def test_entries_that_are_not_link_events_are_skipped(
    redis_client: redis.asyncio.Redis,
    publishers: tuple[Publisher, AsyncPublisher],
    stream: str,
) -> None:
    good = {"type": "unlinked", "user_id": 7, "reason": "stop", "at": "2026-11-30T12:00:00.000Z"}
    for payload in (
        "not json",
        json.dumps({"type": "action", "user_id": 7, "reason": "stop", "at": "x"}),
        json.dumps({"type": "linked", "user_id": "seven", "reason": "start", "at": "x"}),
        json.dumps({"type": "linked", "user_id": 7, "at": "x"}),
        json.dumps(good),
    ):
        await redis_client.xadd(stream, {"payload": payload})
    await redis_client.xadd(stream, {"other": "field"})
    sync, async_ = publishers

    assert await read_sync(sync) == [("unlinked", 7, "stop")]
    assert (await redis_client.xpending(stream, "web"))["pending"] == 0  # skipped ones too
    with pytest.raises(ValueError, match="wait must be over 0"):
        async_.link_events("web", wait=0)


# -- the registry: the event and the change are one transaction ----------------------------


async def events_in(client: redis.asyncio.Redis, stream: str) -> Seen:
    entries: Any = await client.xrange(stream)
    payloads = [json.loads(fields[b"payload"]) for _id, fields in entries]
    return [(p["type"], p["user_id"], p["reason"]) for p in payloads]


async def test_the_registry_reports_each_change_once_and_no_change_never(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, LinkEvents(FAKE_STREAM))
    token = await registry.create_link_token(1, 60)
    assert (await registry.redeem(token, 100)).status is Linking.LINKED
    assert (await registry.redeem(token, 200)).status is Linking.INVALID  # used
    assert await registry.unlink_chat(555, reason="stop") is None  # never linked
    assert await registry.unlink_user(9, reason="admin") == ()
    await registry.link(1, 101)  # a group's migration: the link follows it
    assert await registry.unlink_chat(101, reason="blocked") == 1
    assert await registry.unlink_chat(101, reason="blocked") is None

    assert await events_in(fake_redis, FAKE_STREAM) == [
        ("linked", 1, "start"),
        ("unlinked", 1, "blocked"),
    ]


async def test_a_link_that_takes_a_chat_from_another_user_reports_that_user(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis, LinkEvents(FAKE_STREAM))
    await registry.link(1, 100)
    await registry.link(2, 100)  # no deep link, but user 1 loses the chat all the same
    assert await events_in(fake_redis, FAKE_STREAM) == [("unlinked", 1, "relinked")]
    assert await registry.chats_for(1) == ()


async def test_the_publishers_unlink_reports_on_its_own_stream() -> None:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server)
    sync = Publisher(fakeredis.FakeRedis(server=server), link_events_stream=FAKE_STREAM)
    try:
        await ChatRegistry(client).link(42, 9001)
        assert sync.unlink(42) is True
        assert sync.unlink(42) is False
        assert await events_in(client, FAKE_STREAM) == [("unlinked", 42, "web_app")]
    finally:
        sync.client.close()
        await client.aclose()


async def test_racing_changes_give_one_event_each(
    redis_client: redis.asyncio.Redis, stream: str
) -> None:
    """WATCH/MULTI: a transaction that lost the race is discarded, its event with it."""
    registry = ChatRegistry(redis_client, LinkEvents(stream))
    token = await registry.create_link_token(42, 60)
    redeemed = await asyncio.gather(*(registry.redeem(token, 9000 + n) for n in range(20)))
    assert len([link for link in redeemed if link.status is Linking.LINKED]) == 1
    unlinked = await asyncio.gather(*(registry.unlink_user(42, reason="admin") for _ in range(20)))
    assert len([chats for chats in unlinked if chats]) == 1

    assert await events_in(redis_client, stream) == [
        ("linked", 42, "start"),
        ("unlinked", 42, "admin"),
    ]


async def test_the_stream_is_capped(redis_client: redis.asyncio.Redis, stream: str) -> None:
    events = LinkEvents(stream, maxlen=1000)
    async with redis_client.pipeline(transaction=False) as pipe:
        for user_id in range(3000):
            events.queue(pipe, "linked", user_id, "start")
        await pipe.execute()
    # MAXLEN ~ trims whole nodes of entries (100 each by default), never below the cap.
    assert 1000 <= await redis_client.xlen(stream) < 1200
