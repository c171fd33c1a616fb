"""Categories muted in /settings, by a button under a notification or by the web app; /language."""

from __future__ import annotations

import json
import re

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.chat.preferences import ChatPreferences
from bot.config.settings import Settings
from bot.notification import Outcome
from bot.preferences import Preferences
from bot.publisher import AsyncPublisher, Publisher
from bot.store.preferences import PREFERENCES, PreferenceStore
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.chat.chat_user import (
    CHAT,
    USER,
    buttons,
    categorized_settings,  # noqa: F401 - the fixture `settings`
    current,
    linked,
    say,
    tap,
)
from tests.helpers import publish, receipt_for, wait_sent
from tests.waiting import eventually


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
            ({"language": "fr"}, "language: no messages or templates in 'fr'"),
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


def test_settings_offer_the_templates_languages_four_a_row(fake_redis: redis.asyncio.Redis) -> None:
    """A template may bring languages the bot's replies lack: /settings offers them too, named
    in themselves, and a long list wraps instead of making one unreadable row."""
    settings = ChatPreferences(
        PreferenceStore(fake_redis), (), {}, languages=["fr", "it", "es", "pt", "nl"]
    )
    _, keyboard = settings._view(Preferences(language="fr"), "en", "fr-CA")
    rows = [[button.text for button in row] for row in keyboard.inline_keyboard]
    assert rows[-2:] == [
        ["English", "Deutsch", "español", "● français"],
        ["italiano", "Nederlands", "português"],
    ]
