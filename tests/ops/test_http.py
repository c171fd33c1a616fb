"""The HTTP side on PORT: /healthz, /metrics, webhook mode, and 409s while polling."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from bot import runtime
from bot.chat.user import HELP
from bot.config.settings import ConfigError, Settings
from bot.notification import Outcome
from bot.testing import FakeTelegram
from bot.tools.redis_server import RedisServer
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, plain_publish, wait_sent
from tests.waiting import eventually

WEBHOOK = "https://bot.example.com/telegram"


def url_of(running: RunningBot, path: str) -> str:
    assert running.bot.http is not None
    return f"http://127.0.0.1:{running.bot.http.port}{path}"


async def get(running: RunningBot, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url_of(running, path), timeout=5)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, parsed with prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def http_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"port": 0, "http_host": "127.0.0.1"})


async def test_healthz_reports_redis_telegram_role_and_backlog(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    running = await start_bot(http_settings)
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        plain_publish(http_settings.redis_url, http_settings.notification_channel, _note("hi"))
        await wait_sent(telegram, chat_id=9001, count=2)
        await eventually(lambda: running.bot.stats.last_sent_at is not None)

        response = await get(running, "/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["mode"] == "polling"
        assert body["role"] == "leader"
        assert body["redis"]["ok"] is True
        assert body["telegram"] == {
            "ok": True,
            "username": "notify_demo_bot",
            "last_answer_at": body["telegram"]["last_answer_at"],
            "last_error": None,
        }
        assert body["last_delivery_at"] == running.bot.stats.last_sent_at
        assert body["backlog"] == {"memory": 0, "stream_pending": 0}
        assert body["sources"] == {"stream": "consuming", "pubsub": "subscribed"}
    finally:
        await running.shutdown()


async def test_healthz_is_503_while_a_source_is_not_reading(
    http_settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """Redis answers PING, but the stream cannot be read (its key was overwritten with a
    string): not ok. A bot that cannot read its source must not look healthy."""
    running = await start_bot(http_settings)
    stream = http_settings.notification_stream
    try:
        await redis_client.delete(stream)
        await redis_client.set(stream, "not a stream")
        await eventually(lambda: _status(running, 503), within=10)
        body = (await get(running, "/healthz")).json()
        assert body["status"] == "not consuming"
        assert body["sources"] == {"stream": "reconnecting", "pubsub": "subscribed"}
        await redis_client.delete(stream)  # the consumer recreates it and reads again
        await eventually(lambda: _status(running, 200), within=10)
    finally:
        await running.shutdown()


async def test_healthz_is_503_while_redis_is_unreachable(
    own_redis: RedisServer, http_settings: Settings
) -> None:
    own_redis.start()
    running = await start_bot(http_settings.model_copy(update={"redis_url": own_redis.url}))
    try:
        assert (await get(running, "/healthz")).status_code == 200
        own_redis.kill()
        response = await get(running, "/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["redis"]["ok"] is False
        own_redis.start()
        await eventually(lambda: _status(running, 200), within=10)
    finally:
        await running.shutdown()


async def _status(running: RunningBot, expected: int) -> bool:
    return (await get(running, "/healthz")).status_code == expected


async def test_metrics_count_what_was_sent_and_what_failed(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    running = await start_bot(http_settings.model_copy(update={"delivery_retry_base": 0.01}))
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        telegram.fail_next("sendMessage", 502, "Bad Gateway")  # retried, then sent
        for n in range(3):
            plain_publish(
                http_settings.redis_url, http_settings.notification_channel, _note(f"n{n}")
            )
        plain_publish(http_settings.redis_url, http_settings.notification_channel, "not json")
        await wait_sent(telegram, chat_id=9001, count=4)
        await eventually(lambda: running.bot.dispatcher.pending == 0)  # all settled

        response = await get(running, "/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        found = samples(response.text)
        assert found["notify_notifications_received_total", ()] == 4
        assert found["notify_notifications_total", (("outcome", "sent"),)] == 3
        assert found["notify_notifications_total", (("outcome", "invalid"),)] == 1
        assert found["notify_dead_letters_total", ()] == 1
        assert found["notify_delivery_latency_seconds_count", ()] == 3
        key = (("code", "502"), ("method", "sendMessage"))
        assert found["notify_telegram_api_errors_total", key] == 1
        assert found["notify_leader", ()] == 1
        assert found["notify_backlog", (("where", "memory"),)] == 0
        assert found["notify_backlog", (("where", "stream_pending"),)] == 0
    finally:
        await running.shutdown()


def _note(message: str) -> str:
    return json.dumps({"user_id": 42, "message": message})


async def test_webhook_mode_takes_updates_only_with_the_secret_header(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    config = http_settings.model_copy(update={"webhook_url": WEBHOOK})
    running = await start_bot(config)
    try:
        # Registered with Telegram, with the secret every instance derives from the token.
        assert telegram.webhook["url"] == WEBHOOK
        assert telegram.webhook["secret_token"] == config.webhook_secret_token
        assert telegram.webhook["allowed_updates"] == [
            "message",
            "callback_query",
            "my_chat_member",
            "channel_post",
            "message_reaction",  # Telegram sends none unless asked by name
        ]
        telegram.route_webhooks_to(url_of(running, ""))  # the platform's router

        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        plain_publish(config.redis_url, config.notification_channel, _note("via webhook"))
        [*_, delivered] = await wait_sent(telegram, chat_id=9001, count=2)
        assert delivered.text == "via webhook"
        assert telegram.calls_to("getUpdates") == []  # no polling in webhook mode
        assert running.bot.health.mode == "webhook"

        # Anyone else who finds the URL: no header, or a wrong one.
        update = {"update_id": 999, "message": _message(9002, "/help")}
        with capture_logs() as logs:
            async with httpx.AsyncClient() as client:
                bare = await client.post(url_of(running, "/telegram"), json=update)
                wrong = await client.post(
                    url_of(running, "/telegram"),
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
                )
                # Bytes that are not ASCII (or UTF-8): once a 500 and a traceback.
                garbled = await client.post(
                    url_of(running, "/telegram"),
                    json=update,
                    headers={b"X-Telegram-Bot-Api-Secret-Token": b"\xff\xfe s\xc3\xa9cret"},
                )
        assert (bare.status_code, wrong.status_code, garbled.status_code) == (403, 403, 403)
        reasons = [e["reason"] for e in logs if e["event"] == "webhook_forbidden"]
        assert reasons == ["no secret header", "wrong secret header", "wrong secret header"]
        # A genuine update after them is answered; the refused ones never were.
        telegram.user_says(9003, "/help")
        await wait_sent(telegram, chat_id=9003)
        assert [m for m in telegram.sent if m.chat_id == 9002] == []
        assert config.webhook_secret_token not in json.dumps(logs, default=str)
    finally:
        await running.shutdown()
    assert telegram.webhook["url"] == WEBHOOK  # other instances still serve it


def _message(chat_id: int, text: str) -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": 0,
        "chat": {"id": chat_id, "type": "private"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Eve"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
    }


async def test_a_webhook_telegram_refuses_stops_start_up_naming_the_setting(
    http_settings: Settings,
) -> None:
    config = http_settings.model_copy(update={"webhook_url": "http://bot.example.com/telegram"})
    with pytest.raises(ConfigError, match=r"^WEBHOOK_URL: refused by Telegram: .*https"):
        await runtime.run(config, asyncio.Event())


async def test_another_poller_on_the_token_is_reported_once_not_per_409(
    running_bot: RunningBot, telegram: FakeTelegram
) -> None:
    """Someone runs the same token outside this Redis (a laptop, say): python-telegram-bot
    keeps retrying with backoff, and the log says what is going on once, not per retry."""
    with capture_logs() as logs:
        outsider = httpx.AsyncClient(base_url=f"{telegram.base_url}{telegram.token}/")
        async with outsider:
            for _ in range(12):  # each call ends the bot's long poll with 409
                await outsider.post("getUpdates", data={"timeout": "0"})
                await asyncio.sleep(0.25)
    conflicts = [e for e in logs if e["event"] == "telegram_conflict"]
    assert telegram.conflicts >= 2
    assert len(conflicts) == 1
    assert conflicts[0]["log_level"] == "error"
    # Once the outsider stops, the bot polls again and answers.
    telegram.user_says(9003, "/help")
    [reply] = await wait_sent(telegram, chat_id=9003, timeout=40)
    assert reply.text == HELP


async def test_a_token_revoked_at_runtime_keeps_the_notifications_and_is_unhealthy(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """The token is revoked in @BotFather while the bot runs: nothing is dead-lettered,
    /healthz says so (503), one clear log line; with the token valid again, all arrive."""
    running = await start_bot(http_settings)
    try:
        await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
        real_token = telegram.token
        with capture_logs() as logs:
            telegram.token = "999:revoked"  # every call now answers 401 Unauthorized
            for n in range(3):
                plain_publish(
                    http_settings.redis_url, http_settings.notification_channel, _note(f"r{n}")
                )
            await eventually(lambda: _status(running, 503), within=10)
            body = (await get(running, "/healthz")).json()
            assert body["status"] == "token rejected"
            stats = running.bot.stats
            assert stats.outcomes[Outcome.FAILED] == 0
            assert await running.bot.dead_letters.count() == 0
            telegram.token = real_token
            await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text[0] == "r", count=3)
        assert [e["event"] for e in logs].count("telegram_token_rejected") == 1
        await eventually(lambda: _status(running, 200), within=10)
    finally:
        await running.shutdown()


async def test_healthz_is_503_not_500_when_redis_goes_away_after_the_ping(
    running_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = running_bot.bot.health

    async def gone() -> dict[str, int]:
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(health, "backlog", gone)
    healthy, body = await health.report()
    assert (healthy, body["status"], body["redis"]["ok"]) == (False, "unavailable", False)
