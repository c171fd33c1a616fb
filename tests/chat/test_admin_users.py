"""The admin's side of the chat registry: /users, /whois, /link and /unlink."""

from __future__ import annotations

import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.store.chats import LinkedChat
from bot.store.registry import ChatRegistry
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.chat.admin_chat import (
    ADMIN,
    admin_bot,  # noqa: F401 - the fixture `bot`
    ask,
    settings_with_admin,  # noqa: F401 - the fixture `admin_settings`
)
from tests.helpers import link_chat, plain_publish, token_of, wait_sent
from tests.waiting import eventually


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
