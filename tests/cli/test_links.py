"""link and migrate: deep links that link a chat to a user id, and the registry's schema."""

from __future__ import annotations

import redis

from bot.store.link_tokens import link_token_key
from bot.testing import FakeTelegram
from tests.cli.conftest import Cli, emulator_env
from tests.helpers import token_of


def test_link_prints_one_deep_link_per_user_id(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    env = emulator_env(telegram, redis_url, channel, LINK_TTL_SECONDS="3600")

    result = cli("link", "42", "43", env=env)

    assert result.returncode == 0, result.stderr
    links = result.stdout.split()
    assert len(links) == 2
    for user_id, link in zip((42, 43), links, strict=True):
        assert link.startswith("https://t.me/notify_demo_bot?start=")
        key = link_token_key(token_of(link))
        assert sync_redis.get(key) == str(user_id).encode()
        assert 3590 <= sync_redis.ttl(key) <= 3600


def test_link_prints_a_group_link_or_a_channels_line(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    env = emulator_env(telegram, redis_url, channel)

    group = cli("link", "--group", "42", env=env)
    env_without_token = {k: v for k, v in env.items() if k != "BOT_TOKEN"}
    line = cli("link", "--channel", "43", env=env_without_token)

    assert group.returncode == 0, group.stderr
    assert group.stdout.startswith("https://t.me/notify_demo_bot?startgroup=")
    assert sync_redis.get(link_token_key(token_of(group.stdout.strip()))) == b"42:group"
    assert line.returncode == 0, line.stderr  # no deep link: no bot token needed
    command, token = line.stdout.split()
    assert command == "/link"
    assert sync_redis.get(link_token_key(token)) == b"43:channel"


def test_link_with_a_token_telegram_rejects_exits_2(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str
) -> None:
    env = emulator_env(telegram, redis_url, channel)
    env["BOT_TOKEN"] = "987654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

    result = cli("link", "42", env=env)

    assert result.returncode == 2
    assert result.stderr.strip() == "config error: BOT_TOKEN: rejected by Telegram (Unauthorized)"


def test_migrate_brings_the_registry_up_and_back(
    cli: Cli, redis_url: str, sync_redis: redis.Redis
) -> None:
    sync_redis.hset("notify:user_chat", "42", "9042")
    sync_redis.hset("notify:chat_user", "9042", "42")
    env = {"REDIS_URL": redis_url}

    up = cli("migrate", env=env)
    down = cli("migrate", "--to", "1", env=env)
    sync_redis.set("notify:schema", "3")
    too_new = cli("migrate", env=env)

    assert (up.returncode, up.stdout.strip()) == (0, "schema 2 (was 1); 1 links moved")
    assert (down.returncode, down.stdout.strip()) == (
        0,
        "schema 1: 1 users keep their oldest chat; 0 other chats unlinked",
    )
    assert sync_redis.hget("notify:user_chat", "42") == b"9042"
    assert too_new.returncode == 2
    assert too_new.stderr.startswith("config error: REDIS_URL: Redis holds schema 3")
