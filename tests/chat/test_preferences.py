"""The chat user decides what arrives and when, end to end against the emulator: muting by the
/settings toggles and by the button under a notification, quiet hours (silent and held) with a
controllable clock, digests, and the refusals of bad input."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.preferences import Preferences, parse_categories
from bot.publisher import AsyncPublisher, Publisher
from bot.store.preferences import PREFERENCES, PreferenceStore
from bot.store.registry import ChatRegistry
from bot.store.schedule import SCHEDULED
from bot.testing import FakeTelegram, SentMessage
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, publish, receipt_for, reply_to, wait_sent
from tests.waiting import eventually

USER, CHAT = 42, 9001
CATEGORIES = "orders:Order updates,news:News and offers,security:Security alerts!"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"categories": parse_categories(CATEGORIES)})


async def say(telegram: FakeTelegram, text: str) -> SentMessage:
    """The user writes `text`; the bot's reply."""
    return await reply_to(telegram, CHAT, text)


def buttons(message: SentMessage) -> list[str]:
    rows = message.params.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


async def tap(telegram: FakeTelegram, message: SentMessage, button: str) -> dict[str, Any]:
    query = telegram.tap(CHAT, message.message_id, button=button)
    return dict(await _answer(telegram, query))


async def _answer(telegram: FakeTelegram, query: str) -> Any:
    return await asyncio.to_thread(telegram.wait_for_answer, query)


def current(telegram: FakeTelegram, message: SentMessage) -> SentMessage:
    """`message` as the chat shows it now (after edits)."""
    return next(
        m for m in telegram.sent if m.chat_id == CHAT and m.message_id == message.message_id
    )


async def linked(telegram: FakeTelegram, redis_client: redis.asyncio.Redis) -> None:
    await link_chat(telegram, redis_client, user_id=USER, chat_id=CHAT)


async def test_a_category_turned_off_in_settings_is_not_sent_and_the_receipt_says_muted(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await linked(telegram, redis_client)
    menu = await say(telegram, "/settings")
    assert buttons(menu)[:5] == [
        "✅ Order updates",
        "📬 digest: off",
        "✅ News and offers",
        "📬 digest: off",
        "🔒 Security alerts",
    ]
    answer = await tap(telegram, menu, "✅ News and offers")
    assert answer["text"] == "Saved."
    await eventually(lambda: "🔕 News and offers" in buttons(current(telegram, menu)))
    assert len([m for m in telegram.sent if m.chat_id == CHAT]) == 2  # edited in place

    publish(settings, user_id=USER, message="50% off!", category="news", id="n1")
    publish(settings, user_id=USER, message="Order #17 shipped", category="orders", id="o1")
    publish(settings, user_id=USER, message="New login", category="security", id="s1")
    assert (await receipt_for(receipts, "muted"))["id"] == "n1"
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "New login")
    texts = [m.text for m in telegram.sent if m.chat_id == CHAT]
    assert "Order #17 shipped" in texts
    assert "50% off!" not in texts
    assert running_bot.bot.stats.outcomes[Outcome.MUTED] == 1

    # The category a user cannot mute: an explanation, nothing changes.
    alert = await tap(telegram, current(telegram, menu), "🔒 Security alerts")
    assert str(alert["show_alert"]).lower() == "true"  # as python-telegram-bot encodes it
    assert "cannot be turned off" in alert["text"]
    assert (await PreferenceStore(redis_client).get(USER)).muted == {"news"}


async def test_the_mute_button_under_a_notification_mutes_with_one_tap_and_says_how_to_undo(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await linked(telegram, redis_client)
    publish(settings, user_id=USER, message="Weekly news", category="news", mute_button=True)
    [news] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Weekly news")
    assert buttons(news) == ["🔕 News and offers"]
    answer = await tap(telegram, news, "🔕 News and offers")
    assert answer["text"] == "🔕 News and offers is off. To turn it back on: /settings"
    publish(settings, user_id=USER, message="More news", category="news", id="n2")
    assert (await receipt_for(receipts, "muted"))["id"] == "n2"
    menu = await say(telegram, "/settings")
    assert "🔕 News and offers" in buttons(menu)


async def _tonight_at(redis_client: redis.asyncio.Redis, hour: int, minute: int = 0) -> datetime:
    """`hour:minute` UTC on the day after Redis's clock says today: held notifications are
    released by Redis's TIME, so a night for the planner must still lie ahead by that clock."""
    seconds, _micro = await redis_client.time()
    tomorrow = datetime.fromtimestamp(seconds, UTC) + timedelta(days=1)
    return tomorrow.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _quiet_around(now: datetime, minutes_left: int) -> str:
    """Quiet hours that began an hour before `now` and end `minutes_left` after it."""
    start, end = now - timedelta(hours=1), now + timedelta(minutes=minutes_left)
    return f"{start:%H:%M}-{end:%H:%M}"


async def test_quiet_hours_send_silently_and_high_priority_and_security_ring(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    fake_now = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    running_bot.bot.dispatcher.planner.clock = fake_now.timestamp
    assert "22:00-07:00" in (await say(telegram, "/quiet 22:00-07:00")).text
    publish(settings, user_id=USER, message="Order #18 packed", category="orders")
    publish(settings, user_id=USER, message="Your code: 1234", priority="high")
    publish(settings, user_id=USER, message="New login", category="security")
    sent = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: "/" not in m.text, count=3)
    silent = {m.text: m.params.get("disable_notification", False) for m in sent}
    assert silent == {"Order #18 packed": True, "Your code: 1234": False, "New login": False}

    running_bot.bot.dispatcher.planner.clock = (fake_now + timedelta(hours=8)).timestamp
    publish(settings, user_id=USER, message="Order #18 shipped", category="orders")
    [shipped] = await wait_sent(
        telegram, chat_id=CHAT, predicate=lambda m: m.text == "Order #18 shipped"
    )
    assert "disable_notification" not in shipped.params  # 07:30: quiet hours are over


async def test_held_notifications_wait_in_redis_and_go_out_in_order_when_quiet_hours_end(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """With "hold", normal and bulk ones wait until the end of quiet hours (kept in Redis, in
    the order they came) while high ones go out at once."""
    await linked(telegram, redis_client)
    store = PreferenceStore(redis_client)
    await store.update(
        USER, lambda p: p.model_copy(update={"quiet": "22:00-07:00", "quiet_mode": "hold"})
    )
    night = await _tonight_at(redis_client, 23, 30)
    running_bot.bot.dispatcher.planner.clock = night.timestamp
    for n in range(5):
        publish(settings, user_id=USER, message=f"update {n}", id=f"u{n}", category="orders")
    publish(settings, user_id=USER, message="Your code: 1234", priority="high")
    await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Your code: 1234")
    for _ in range(5):
        assert (await receipt_for(receipts, "held"))["id"].startswith("u")
    held: Any = await redis_client.zrange(SCHEDULED, 0, -1, withscores=True)
    morning = (night + timedelta(days=1)).replace(hour=7, minute=0).timestamp() * 1000
    assert [score for _member, score in held] == [morning] * 5
    assert not [m for m in telegram.sent if m.text.startswith("update")]

    # Morning comes (for Redis, which decides what is due): they go out, in order, once.
    await redis_client.zadd(SCHEDULED, {member: 0 for member, _score in held})
    running_bot.bot.releaser.wake.set()  # type: ignore[union-attr]
    updates = await wait_sent(
        telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("update"), count=5
    )
    assert [m.text for m in updates] == [f"update {n}" for n in range(5)]
    assert running_bot.bot.stats.outcomes[Outcome.HELD] == 5


async def test_held_fan_out_recipients_each_get_it_when_their_quiet_hours_end(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    """A fan-out's recipients held for quiet hours are released as notifications of their own:
    without the fan-out's id, which would make all but the first duplicates."""
    store, registry = PreferenceStore(redis_client), ChatRegistry(redis_client)
    users = [101, 102, 103]
    for user in users:
        telegram.add_chat(5000 + user)
        await registry.link(user, 5000 + user)
        await store.update(
            user, lambda p: p.model_copy(update={"quiet": "22:00-07:00", "quiet_mode": "hold"})
        )
    night = await _tonight_at(redis_client, 23)
    running_bot.bot.dispatcher.planner.clock = night.timestamp
    publish(settings, user_ids=users, message="Weekly news", id="news-50", category="orders")
    summary = await receipt_for(receipts, "fanout_done")
    assert (summary["sent"], summary["skipped"]) == (3, 0)  # held counts as sent
    held: Any = await redis_client.zrange(SCHEDULED, 0, -1)
    assert len(held) == 3
    await redis_client.zadd(SCHEDULED, dict.fromkeys(held, 0))
    running_bot.bot.releaser.wake.set()  # type: ignore[union-attr]
    sent = await wait_sent(telegram, predicate=lambda m: m.text == "Weekly news", count=3)
    assert sorted(m.chat_id for m in sent) == [5101, 5102, 5103]


async def test_one_released_at_its_deliver_at_in_quiet_hours_arrives_without_a_sound(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    await PreferenceStore(redis_client).update(
        USER, lambda p: p.model_copy(update={"quiet": "22:00-07:00"})
    )
    running_bot.bot.dispatcher.planner.clock = datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp
    await redis_client.xadd(
        settings.notification_stream,
        {
            "payload": json.dumps(
                {"user_id": USER, "message": "At 3", "deliver_at": time.time() + 1}
            )
        },
    )
    [late] = await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "At 3")
    assert late.params.get("disable_notification") is True


async def test_a_user_nobody_is_linked_for_is_unlinked_not_digested_or_held(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    running = await start_bot(settings.model_copy(update={"digest": {"news": 60}}))
    try:
        publish(settings, user_id=77, message="news for nobody", category="news", id="x1")
        assert (await receipt_for(receipts, "unlinked"))["id"] == "x1"
        assert await redis_client.exists("notify:digest:77:news") == 0
    finally:
        await running.shutdown()


async def test_a_digest_collects_a_categorys_notifications_into_one_message(
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    config = settings.model_copy(update={"digest": {"news": 1}})
    running = await start_bot(config)
    try:
        await linked(telegram, redis_client)
        for n in range(3):
            publish(
                config,
                user_id=USER,
                message=f"<b>Story {n}</b>\nmore",
                format="html",
                category="news",
                id=f"story{n}",
            )
        publish(config, user_id=USER, message="Order #19 shipped", category="orders")
        for _ in range(3):
            await receipt_for(receipts, "digested")
        [digest] = await wait_sent(
            telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("📬"), timeout=15
        )
        assert digest.text == "📬 News and offers (3)\n• Story 0\n• Story 1\n• Story 2"
        texts = [m.text for m in telegram.sent if m.chat_id == CHAT]
        assert "Order #19 shipped" in texts
        assert not [t for t in texts if t.startswith(("<b>", "Story"))]

        async def sent_lines_gone() -> bool:
            # Settled after the send: its lines go, and no next flush waits (none is left).
            left = await redis_client.exists("notify:digest:42:news")
            return left == 0 and await redis_client.zcard(SCHEDULED) == 0

        await eventually(sent_lines_gone)
        # A user may turn the digest off for a category in /settings: then each comes alone.
        menu = await say(telegram, "/settings")
        await tap(telegram, menu, "📬 digest: on")
        await eventually(lambda: "📬 digest: off" in buttons(current(telegram, menu)))
        publish(config, user_id=USER, message="Story 3", category="news")
        await wait_sent(telegram, chat_id=CHAT, predicate=lambda m: m.text == "Story 3")
    finally:
        await running.shutdown()


async def test_preferences_set_by_the_web_app_show_in_settings_and_the_reverse(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    web = Publisher.from_url(settings.redis_url)
    try:
        assert [c.name for c in web.categories()] == ["orders", "news", "security"]
        changed = web.set_preferences(
            USER, muted=["news"], quiet="22:00-07:00", quiet_mode="hold", timezone="Europe/Berlin"
        )
        assert changed.muted == {"news"}
        menu = await say(telegram, "/settings")
        assert "🔕 News and offers" in buttons(menu)
        assert (
            "🌙 Quiet hours: 22:00-07:00 (Europe/Berlin). Notifications wait until they end."
            in (menu.text)
        )
        await tap(telegram, menu, "🔕 News and offers")  # the user turns it back on
        await tap(telegram, current(telegram, menu), "✅ Order updates")
        await eventually(lambda: "🔕 Order updates" in buttons(current(telegram, menu)))
        assert web.get_preferences(USER).muted == {"orders"}
        assert web.get_preferences(USER).timezone == "Europe/Berlin"  # untouched by the taps

        for bad, error in [
            ({"muted": ["sports"]}, "muted: 'sports' is not a declared category"),
            ({"muted": ["security"]}, "muted: 'security' cannot be muted or digested"),
            ({"timezone": "Mars/Base"}, "timezone: 'Mars/Base' is not a time zone"),
            ({"quiet": "25:00-07:00"}, "quiet: '25:00-07:00' is not HH:MM-HH:MM"),
            ({"language": "fr"}, "language: no messages in 'fr'"),
        ]:
            with pytest.raises(ValueError, match=re.escape(error)):
                web.set_preferences(USER, **bad)  # type: ignore[arg-type]
        assert web.get_preferences(USER).muted == {"orders"}  # nothing changed
        # A category the operator dropped since stays stored and blocks no other change.
        stored = Preferences(muted=frozenset({"orders", "promo"})).stored()
        await redis_client.hset(PREFERENCES, str(USER), stored)
        assert web.set_preferences(USER, timezone="UTC").muted == {"orders", "promo"}
        async_web = AsyncPublisher(redis_client)
        await async_web.set_preferences(USER, muted=[], language="de")
        assert (await async_web.get_preferences(USER)).language == "de"
        assert "✅ Order updates" in buttons(await say(telegram, "/settings"))
    finally:
        web.client.close()


async def test_bad_quiet_hours_and_time_zones_get_a_helpful_reply_and_change_nothing(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await linked(telegram, redis_client)
    reply = await say(telegram, "/quiet 25:00-07:00")
    assert "25:00-07:00" in reply.text
    assert "/quiet 22:00-07:00" in reply.text
    reply = await say(telegram, "/timezone Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in reply.text
    assert "Europe/Berlin" in reply.text
    assert await redis_client.hget(PREFERENCES, str(USER)) is None
    assert "Europe/Berlin" in (await say(telegram, "/timezone Europe/Berlin")).text
    assert "off" in (await say(telegram, "/quiet off")).text
    stored = await redis_client.hget(PREFERENCES, str(USER))
    assert stored is not None
    assert Preferences.model_validate_json(stored).timezone == "Europe/Berlin"


async def test_a_language_without_messages_is_refused_with_the_ones_there_are(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await linked(telegram, redis_client)
    reply = await say(telegram, "/language fr")
    assert (
        reply.text == "I have no messages in “fr” yet. I can write in: English (en), Deutsch (de)."
    )
    assert await redis_client.hget(PREFERENCES, str(USER)) is None
    assert (await say(telegram, "/language de")).text == "Ab jetzt schreibe ich dir auf Deutsch."
    assert (await PreferenceStore(redis_client).get(USER)).language == "de"
    assert (await say(telegram, "/help")).text.startswith("Ich ")  # the pick beats Telegram's


async def test_quiet_hours_set_in_wait_mode_say_that_notifications_wait(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    await linked(telegram, redis_client)
    await PreferenceStore(redis_client).update(
        USER, lambda p: p.model_copy(update={"quiet_mode": "hold"})
    )
    reply = await say(telegram, "/quiet 23:00-06:00")
    assert reply.text.startswith("Quiet hours are now 23:00-06:00 (UTC): notifications wait")


async def test_settings_in_a_chat_that_is_not_linked_say_so(
    running_bot: RunningBot, telegram: FakeTelegram
) -> None:
    reply = await say(telegram, "/settings")
    assert reply.text == "This chat is not linked to any account."
    assert "reply_markup" not in reply.params


async def test_an_undeclared_category_is_delivered_and_logged_once_per_name(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await linked(telegram, redis_client)
    with capture_logs() as logs:
        for n in range(3):
            publish(settings, user_id=USER, message=f"typo {n}", category="nwes")
        await wait_sent(
            telegram, chat_id=CHAT, predicate=lambda m: m.text.startswith("typo"), count=3
        )
    warnings = [e for e in logs if e["event"] == "category_undeclared"]
    assert [w["category"] for w in warnings] == ["nwes"]


async def test_the_bot_tells_the_web_app_its_categories(
    running_bot: RunningBot, redis_client: redis.asyncio.Redis
) -> None:
    raw = await redis_client.get("notify:categories")
    assert raw is not None
    declared = json.loads(raw)
    assert [c["name"] for c in declared["categories"]] == ["orders", "news", "security"]
    assert declared["categories"][2]["mutable"] is False
