"""Admin commands through the emulator: an admin (user 1) and a non-admin (user 2)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.admin import PRIVATE_ONLY_REPLY, REFUSAL
from bot.chat.menus import ADMIN_COMMANDS, PUBLIC_COMMANDS
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.store.chats import LinkedChat
from bot.store.counters import all_time
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram, FloodLimits, SentMessage
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, plain_publish, reply_to, token_of, wait_sent
from tests.isolation import TIMING
from tests.waiting import eventually

ADMIN, OTHER = 1, 2


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_ids": frozenset({ADMIN})})


@pytest.fixture
async def bot(
    admin_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> AsyncIterator[RunningBot]:
    telegram.add_chat(ADMIN)  # the admin has talked to the bot before: the menu can be set
    running = await start_bot(admin_settings)
    yield running
    if not running.task.done():
        await running.shutdown()


async def ask(
    telegram: FakeTelegram, user_id: int, text: str, chat: dict[str, object] | None = None
) -> str:
    """Send a command as `user_id` and return the bot's reply, as the chat shows it."""
    return (await reply_to(telegram, user_id, text, chat)).text


async def link_many(client: redis.asyncio.Redis, telegram: FakeTelegram, count: int) -> None:
    """Users 101.. linked to chats 5001.. (as if each had opened a deep link earlier)."""
    registry = ChatRegistry(client)
    for user in range(1, count + 1):
        telegram.add_chat(5000 + user)
        await registry.link(100 + user, 5000 + user)


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


async def test_stats_show_counts_since_start_and_all_time(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    plain_publish(
        admin_settings.redis_url,
        admin_settings.notification_channel,
        {"user_id": 42, "message": "a"},
    )
    plain_publish(admin_settings.redis_url, admin_settings.notification_channel, "bad")
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "a")
    # Counted when settled (after Telegram answered), then written to Redis for all-time.
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.SENT] == 1)
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.INVALID] == 1)
    await eventually(lambda: _all_time_reached(redis_client, sent=1, invalid=1))

    reply = await ask(telegram, ADMIN, "/stats")

    assert "1 linked users" in reply
    assert re.search(r"delivered\s+1\s+1", reply)
    assert re.search(r"invalid\s+1\s+1", reply)
    assert re.search(r"dead-lettered\s+1\s+1", reply)
    assert "redis: ok" in reply
    assert "leader, pub/sub subscribed, stream consuming" in reply
    assert "stream: 0 entries, 0 pending" in reply
    assert telegram.token not in reply


async def test_all_time_counters_survive_a_restart(
    admin_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    telegram.add_chat(ADMIN)
    first = await start_bot(admin_settings)
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    for text in ("one", "two"):
        plain_publish(
            admin_settings.redis_url,
            admin_settings.notification_channel,
            {"user_id": 42, "message": text},
        )
    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "two")
    await first.shutdown()

    second = await start_bot(admin_settings)
    try:
        reply = await ask(telegram, ADMIN, "/stats")
        assert re.search(r"delivered\s+0\s+2", reply), reply
    finally:
        await second.shutdown()


async def test_users_whois_link_and_unlink(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    for user in (41, 42, 43):
        await link_chat(telegram, redis_client, user_id=user, chat_id=9000 + user)
    plain_publish(
        admin_settings.redis_url,
        admin_settings.notification_channel,
        {"user_id": 42, "message": "hi"},
    )
    await wait_sent(telegram, chat_id=9042, predicate=lambda m: m.text == "hi")
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.SENT] == 1)
    shop = LinkedChat(-1009042, "group", 7)
    await bot.bot.registry.link(42, shop, title="Shop <desk>")

    users = await ask(telegram, ADMIN, "/users")
    assert "page 1 of 1 (3)" in users
    assert all(f"private {9000 + u}" in users for u in (41, 42, 43))
    assert "private 9042, group -1009042#7" in users
    assert "3 linked users, 4 chats" in await ask(telegram, ADMIN, "/stats")

    whois = await ask(telegram, ADMIN, "/whois 42")
    assert "User 42: 2 chats, linked since" in whois
    assert "• private 9042, linked" in whois
    assert "• group -1009042, “Shop <desk>”, topic 7, linked" in whois
    assert "Last delivery" in whois
    assert whois.endswith(": sent.")
    assert "is not linked" in await ask(telegram, ADMIN, "/whois 77")

    link = (await ask(telegram, ADMIN, "/link 77")).split()[-1]
    assert link.startswith("https://t.me/notify_demo_bot?start=")
    telegram.user_says(9077, f"/start {token_of(link)}")
    await wait_sent(telegram, chat_id=9077)
    assert [c.chat_id for c in await ChatRegistry(redis_client).chats_for(77)] == [9077]

    assert await ask(telegram, ADMIN, "/unlink 42") == (
        "Unlinked user 42 (chat 9042, chat -1009042)."
    )
    assert await ask(telegram, ADMIN, "/unlink 42") == "User 42 was not linked."


async def test_send_goes_through_the_pipeline_and_reports_the_outcome(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    assert await ask(telegram, ADMIN, "/send 42 Test from the admin") == "User 42: sent."
    [received] = [m for m in telegram.sent if m.text == "Test from the admin"]
    assert received.chat_id == 9001
    assert await ask(telegram, ADMIN, "/send 99 anyone there?") == "User 99: unlinked."
    await eventually(lambda: bot.bot.stats.outcomes[Outcome.UNLINKED] == 1)


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


async def test_dead_letters_are_listed_and_retried(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await ChatRegistry(redis_client).link(42, 777)  # a chat Telegram does not know yet
    plain_publish(
        admin_settings.redis_url,
        admin_settings.notification_channel,
        {"user_id": 42, "message": "later"},
    )
    await eventually(lambda: bot.bot.dead_letters.latest(1))  # counted, then written

    listing = await ask(telegram, ADMIN, "/deadletters")
    assert listing.startswith("1 dead letters, newest first:")
    assert "Chat not found" in listing
    assert '"message": "later"' in listing

    telegram.add_chat(777)
    assert await ask(telegram, ADMIN, "/retry all") == "Requeued 1 dead letter."
    await wait_sent(telegram, chat_id=777, predicate=lambda m: m.text == "later")
    assert await ask(telegram, ADMIN, "/deadletters") == "No dead letters."


async def test_pause_holds_everything_and_resume_loses_nothing(
    bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    admin_settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    assert (await ask(telegram, ADMIN, "/pause")).startswith("Paused.")
    for i in range(3):
        plain_publish(
            admin_settings.redis_url,
            admin_settings.notification_channel,
            {"user_id": 42, "message": f"p{i}"},
        )
        await redis_client.xadd(
            admin_settings.notification_stream,
            {"payload": json.dumps({"user_id": 42, "message": f"s{i}"})},
        )
    await eventually(lambda: bot.bot.dispatcher.pending == 6)
    assert "PAUSED" in await ask(telegram, ADMIN, "/stats")
    assert not [m for m in telegram.sent if m.text[:1] in "ps" and m.text[1:].isdigit()]

    assert (
        await ask(telegram, ADMIN, "/resume") == "Resumed; 6 queued notifications are on their way."
    )
    sent = await wait_sent(
        telegram, chat_id=9001, predicate=lambda m: m.text[1:].isdigit(), count=6
    )
    assert sorted(m.text for m in sent) == ["p0", "p1", "p2", "s0", "s1", "s2"]


async def test_health_reports_each_dependency(bot: RunningBot, telegram: FakeTelegram) -> None:
    lines = (await ask(telegram, ADMIN, "/health")).splitlines()
    assert lines[0].startswith("redis: ok, ")
    assert lines[1].startswith("telegram: ok, ")


@TIMING
async def test_broadcast_reaches_50_chats_under_flood_limits_with_live_progress(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_many(redis_client, telegram, 50)
    bot.bot.broadcaster.progress_every = 0.3  # see the progress more often
    telegram.set_limits(FloodLimits())

    started = await ask(telegram, ADMIN, "/broadcast Maintenance tonight at 22:00")
    assert started == "Broadcast: 0 sent, 0 failed, 50 remaining of 50"  # then edited
    assert await ask(telegram, ADMIN, "/broadcast again") == (
        "A broadcast is already running: /broadcast_cancel first."
    )

    delivered = await wait_sent(
        telegram, predicate=lambda m: m.text == "Maintenance tonight at 22:00", count=50, timeout=30
    )
    await eventually(lambda: _progress(telegram).startswith("Broadcast finished"))
    assert _progress(telegram) == "Broadcast finished: 50 sent, 0 failed, 0 remaining of 50"
    assert {m.chat_id for m in delivered} == {5000 + u for u in range(1, 51)}
    assert telegram.rate_limited == 0
    edits = [e.text for e in telegram.edits]
    assert any(
        re.fullmatch(r"Broadcast: \d+ sent, 0 failed, \d+ remaining of 50", e) for e in edits
    )


@TIMING
async def test_a_broadcast_can_be_cancelled(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await link_many(redis_client, telegram, 200)
    telegram.set_limits(FloodLimits())  # 200 messages take about 7 s
    await ask(telegram, ADMIN, "/broadcast slow news")
    assert (await ask(telegram, ADMIN, "/broadcast_cancel")).startswith("Cancelling")
    await eventually(lambda: _progress(telegram).startswith("Broadcast cancelled"), within=15)
    assert len([m for m in telegram.sent if m.text == "slow news"]) < 200
    assert await ask(telegram, ADMIN, "/broadcast_cancel") == "No broadcast is running."


async def test_a_broadcast_cancelled_while_it_starts_sends_nothing(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """The admin sees the progress message and cancels at once, before the bot has heard
    back from Telegram that the message went out. (From another chat: one chat's updates are
    handled one after another, so from the same chat the cancel comes after the start.)"""
    await link_many(redis_client, telegram, 20)
    calls = len(telegram.calls_to("sendMessage"))
    telegram.hang_next("sendMessage", 0.5)  # the progress message
    telegram.user_says(ADMIN, "/broadcast too early")
    await asyncio.to_thread(telegram.wait_for_call, "sendMessage", count=calls + 1)
    ops = {"id": -100555, "type": "supergroup", "title": "ops"}
    assert (await ask(telegram, ADMIN, "/broadcast_cancel", chat=ops)).startswith("Cancelling")
    await eventually(lambda: _progress(telegram).startswith("Broadcast cancelled"), within=15)
    assert not [m for m in telegram.sent if m.text == "too early"]


def _progress(telegram: FakeTelegram) -> str:
    """The admin's progress message as it reads now."""
    messages: list[SentMessage] = [m for m in telegram.sent if m.chat_id == ADMIN]
    progress = [m for m in messages if m.text.startswith("Broadcast") and "started" not in m.text]
    return progress[-1].text if progress else ""


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


async def test_the_longest_dead_letter_listing_still_fits_one_message(
    bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """/deadletters 50, the documented maximum, with 60 long letters: it answers (it used to
    fail with "message is too long"), showing what fits and saying how many it left out."""
    store = bot.bot.dead_letters
    for n in range(60):
        payload = json.dumps({"user_id": n, "text": "x" * 400})
        await store.add(payload, "not valid: " + "why " * 100, 1, "pubsub", time.time())
    listing = await ask(telegram, ADMIN, "/deadletters 50")
    assert listing.startswith("60 dead letters, newest first:")
    assert len(listing.encode("utf-16-le")) // 2 <= 4096
    assert "more not shown: /deadletters" in listing


async def test_dead_letters_keep_a_bounded_payload_and_a_replay_skips_cut_ones(
    bot: RunningBot, telegram: FakeTelegram, admin_settings: Settings
) -> None:
    """An invalid 1 MB payload is kept as its first DEADLETTER_MAX_PAYLOAD_BYTES (64 KB),
    marked; /retry all does not put it back (it could only fail again)."""
    huge = '{"user_id": 42, "message": "' + "y" * 1_000_000  # not even valid JSON
    plain_publish(admin_settings.redis_url, admin_settings.notification_channel, huge)
    await eventually(lambda: bot.bot.dead_letters.latest(1))  # counted, then written
    [letter] = await bot.bot.dead_letters.latest(1)
    assert letter.truncated == len(huge)
    assert len(letter.payload) == 64 * 1024
    assert "(payload cut)" in await ask(telegram, ADMIN, "/deadletters")
    reply = await ask(telegram, ADMIN, "/retry all")
    assert reply == "Requeued 0 dead letters. Kept 1 whose payload was cut to the size limit."


async def _all_time_reached(client: redis.asyncio.Redis, **counts: int) -> bool:
    stored = await all_time(client)
    return all(stored[name] >= count for name, count in counts.items())
