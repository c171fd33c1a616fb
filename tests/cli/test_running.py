"""run and check: the bot stops at start in one line when it cannot run; check says why."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import socket
from pathlib import Path

import pytest
import redis
import sentry_sdk
from telegram import Bot

from bot.config.settings import Settings
from bot.store.deployment import BOT_ID
from bot.testing import FakeTelegram
from tests.cli.conftest import Cli, emulator_env
from tests.waiting import until


def test_a_bot_refuses_a_database_another_bot_claimed(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str, sync_redis: redis.Redis
) -> None:
    """Two deployments on one database would share chats, counters and streams: the second
    bot stops at start (exit 2) with what to do, and leaves the first one's key alone."""
    sync_redis.set(BOT_ID, "123456789")
    result = cli("run", env=emulator_env(telegram, redis_url, channel))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "config error: REDIS_URL: this database belongs to bot 123456789 (key notify:bot_id); "
        "use another database, or delete that key to hand it over"
    )
    assert sync_redis.get(BOT_ID) == b"123456789"


def test_a_port_in_use_stops_start_up_in_one_line(cli: Cli) -> None:
    """PORT taken by another process (a running bot, say): exit 2 and one line naming PORT,
    not a 33-line traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        token = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        result = cli(env={"BOT_TOKEN": token, "PORT": str(port), "HTTP_HOST": "127.0.0.1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"config error: PORT {port} is in use (another process listens there)"
    ]


def test_check_passes_against_reachable_redis_and_telegram(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str
) -> None:
    result = cli("check", env=emulator_env(telegram, redis_url, channel))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "config"],
        ["ok", "redis"],
        ["ok", "telegram"],
        ["ok", "listeners"],
        ["ok", "channel"],
    ]
    assert re.search(r"Redis \d+\.\d+\.\d+, PING \d+\.\d ms", lines[1])
    assert "@notify_demo_bot" in lines[2]
    assert lines[2].endswith("; polling")
    assert "0 subscribers on the channel (is the bot running?)" in lines[3]
    assert "no leader: nothing polls Telegram or reads the channel" in lines[3]
    assert lines[4].endswith(f"{channel!r}: no other deployment on it")


def test_check_says_when_telegram_cannot_call_the_webhook(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str
) -> None:
    url = "https://bot.example.com/telegram"
    env = emulator_env(telegram, redis_url, channel, WEBHOOK_URL=url, PORT="8443")
    assert "webhook not registered yet" in cli("check", env=env).stdout

    with socket.socket() as probe:  # a port nothing listens on: the app is down
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    telegram.route_webhooks_to(f"http://127.0.0.1:{closed}")
    secret = Settings(
        _env_file=None, bot_token=env["BOT_TOKEN"], webhook_url=url, port=8443
    ).webhook_secret_token
    asyncio.run(_set_webhook(telegram, url, secret))
    telegram.user_says(42, "/help")
    until(lambda: telegram.webhook_errors, "Telegram's failed call to the webhook")

    result = cli("check", env=env)
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.split()[1] == "telegram"]
    assert line.startswith("FAIL")
    assert "webhook registered, but Telegram failed to call it: Connection failed" in line


async def _set_webhook(telegram: FakeTelegram, url: str, secret: str) -> None:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        await bot.set_webhook(url, secret_token=secret)


def test_check_reports_an_unreachable_redis_and_exits_1(
    cli: Cli, telegram: FakeTelegram, channel: str
) -> None:
    result = cli("check", env=emulator_env(telegram, "redis://127.0.0.1:1/0", channel))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("FAIL  redis")
    assert lines[2].startswith("ok    telegram")
    assert len(lines) == 3  # no listener check without Redis
    assert "Traceback" not in result.stderr


def test_check_with_a_rejected_token_or_no_token(
    cli: Cli, telegram: FakeTelegram, redis_url: str, channel: str
) -> None:
    env = emulator_env(telegram, redis_url, channel)
    env["BOT_TOKEN"] = "987654321:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    rejected = cli("check", env=env)
    assert rejected.returncode == 1
    assert "FAIL  telegram   BOT_TOKEN: rejected (Unauthorized)" in rejected.stdout
    del env["BOT_TOKEN"]
    missing = cli("check", env=env)
    assert missing.returncode == 2
    assert missing.stdout.strip() == "FAIL  config     BOT_TOKEN: is required but not set"


def test_a_bad_template_stops_start_up_naming_file_language_and_line(
    cli: Cli, tmp_path: Path
) -> None:
    """TEMPLATES_DIR with a template that cannot render: exit 2 before anything connects."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "order_shipped.toml").write_text(
        '[en]\nmessage = "Order {{ order }}"\n\n[de]\nmessage = "Bestellung {{ order }"\n'
    )
    token = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    result = cli(env={"BOT_TOKEN": token, "TEMPLATES_DIR": str(templates)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "config error: TEMPLATES_DIR: order_shipped.toml [de] line 5: message: unexpected '}'"
    ]


def test_an_invalid_proxy_stops_start_up_in_one_line_without_its_password(cli: Cli) -> None:
    env = {
        "BOT_TOKEN": "123456:" + "A" * 35,
        "TELEGRAM_PROXY": "socks4://me:pa55word@proxy.example:1080",
    }
    result = cli("run", env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "config error: TELEGRAM_PROXY: must be an http:// or socks5:// URL, "
        "e.g. socks5://user:pass@host:1080\n"
    )


def test_sentry_without_its_extra_stops_start_up_saying_what_to_install(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentry_sdk" else real(name, *a),
    )
    dsn = "https://0123456789abcdef0123456789abcdef@o1.ingest.example/5"
    result = cli("run", env={"BOT_TOKEN": "123456:" + "A" * 35, "SENTRY_DSN": dsn})
    assert result.returncode == 2
    assert result.stderr == (
        "config error: SENTRY_DSN: needs sentry-sdk: pip install 'notify-bot[sentry]' "
        "(on Heroku: add sentry-sdk to requirements.txt)\n"
    )
    assert not sentry_sdk.get_client().is_active()
