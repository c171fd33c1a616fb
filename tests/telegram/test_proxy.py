"""TELEGRAM_PROXY: every request to Telegram, python-telegram-bot's (getMe, getUpdates, replies)
and the sender's (the notifications), goes through a real proxy, http:// or socks5:// with
credentials, and the credentials are never said."""

from __future__ import annotations

import re

import pytest
import redis.asyncio
from pydantic import SecretStr
from telegram.error import NetworkError

from bot.config.proxy import parse_proxy
from bot.config.settings import Settings
from bot.telegram.pacing import Limits, Pacer
from bot.telegram.proxy import connector, one_off_bot, request_options
from bot.telegram.sender import Sender
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.helpers import link_chat, publish, wait_sent
from tests.proxies import HttpProxy, Socks5Proxy
from tests.telegram.conftest import Answers

USER, CHAT = 4242, 777001
PASSWORD = "pr0xy-Pa55word"  # the test proxy's


def through(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"telegram_proxy": SecretStr(url)})


def methods(text: str) -> list[str]:
    """The Bot API methods named in request lines or a tunnel's bytes, in order."""
    return re.findall(r"/bot\d+:[A-Za-z0-9_-]+/(\w+)", text)


def assert_every_call_went_through(seen: list[str], telegram: FakeTelegram) -> None:
    """`seen` (the methods a proxy carried) has the bot's every kind of call, and every call
    the emulator answered came through the proxy: none went round it."""
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage"} <= set(seen)
    for method in ("getMe", "sendMessage"):
        assert seen.count(method) == len(telegram.calls_to(method)), method


async def deliver_one(
    settings: Settings, telegram: FakeTelegram, client: redis.asyncio.Redis
) -> None:
    """Run the bot, link a chat (its /start comes by getUpdates, the reply by
    python-telegram-bot), deliver a notification (the sender's sendMessage), stop."""
    telegram.add_chat(CHAT)
    running = await start_bot(settings)
    try:
        await link_chat(telegram, client, USER, CHAT)
        publish(settings, user_id=USER, message="through the proxy")
        sent = await wait_sent(telegram, chat_id=CHAT, count=2)
        assert sent[-1].text == "through the proxy"
    finally:
        await running.shutdown()


async def test_an_http_proxy_carries_every_request_of_the_bot(
    settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    async with HttpProxy("notify", PASSWORD) as proxy:
        await deliver_one(
            through(settings, f"http://notify:{PASSWORD}@127.0.0.1:{proxy.port}"),
            telegram,
            redis_client,
        )
    assert_every_call_went_through(methods("\n".join(proxy.requests)), telegram)
    assert proxy.refused == 0  # the credentials went with every request


async def test_a_socks5_proxy_carries_every_request_of_the_bot(
    settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    async with Socks5Proxy("notify", PASSWORD) as proxy:
        await deliver_one(
            through(settings, f"socks5://notify:{PASSWORD}@127.0.0.1:{proxy.port}"),
            telegram,
            redis_client,
        )
    port = int(telegram.base_url.split(":")[2].split("/")[0])
    assert proxy.destinations
    assert {destination[1] for destination in proxy.destinations} == {port}
    assert_every_call_went_through(methods(proxy.tunnelled.decode("latin-1")), telegram)
    assert proxy.refused == 0


async def test_a_command_s_bot_goes_through_the_proxy_too(telegram: FakeTelegram) -> None:
    """`check` and `links` make a Bot of their own: through the proxy as well."""
    async with HttpProxy("notify", PASSWORD) as proxy:
        url = f"http://notify:{PASSWORD}@127.0.0.1:{proxy.port}"
        async with one_off_bot(telegram.token, telegram.base_url, parse_proxy(url)) as bot:
            assert bot.username
    assert methods("\n".join(proxy.requests)) == ["getMe"]


async def test_wrong_or_unreachable_proxies_fail_without_saying_the_credentials(
    telegram: FakeTelegram, answers: Answers
) -> None:
    async with HttpProxy("notify", "the-right-one") as proxy:
        refusing = f"http://notify:{PASSWORD}@127.0.0.1:{proxy.port}"
    # Closed now: nothing listens on its port any more.
    for url in (refusing, f"socks5://notify:{PASSWORD}@127.0.0.1:{proxy.port}"):
        sender = Sender(
            telegram.base_url + telegram.token,
            telegram.token,
            Pacer(Limits(per_second=1000, chat_burst=1000)),
            answers,
            connections=2,
            timeout=0.5,
            proxy=parse_proxy(url),
        )
        with pytest.raises(NetworkError) as caught:
            await sender.get_me()
        await sender.close()
        assert PASSWORD not in str(caught.value)
    assert len(answers.unreachable) == 2
    assert all(PASSWORD not in error for _method, _kind, error in answers.unreachable)


async def test_a_proxy_refusing_the_credentials_is_an_answer_not_a_hang(
    telegram: FakeTelegram, answers: Answers
) -> None:
    async with HttpProxy("notify", "the-right-one") as proxy:
        sender = Sender(
            telegram.base_url + telegram.token,
            telegram.token,
            Pacer(Limits(per_second=1000, chat_burst=1000)),
            answers,
            connections=2,
            timeout=0.5,
            proxy=parse_proxy(f"http://notify:{PASSWORD}@127.0.0.1:{proxy.port}"),
        )
        with pytest.raises(NetworkError, match="Proxy Authentication Required") as caught:
            await sender.get_me()
        await sender.close()
    assert PASSWORD not in str(caught.value)
    assert proxy.refused == 1
    assert telegram.calls_to("getMe") == []


def test_an_http_proxy_is_named_per_request_and_never_shown_with_its_credentials() -> None:
    proxy = parse_proxy(f"http://no%40tify:{PASSWORD}@proxy.example:3128")
    assert request_options(proxy) == {"proxy": f"http://no%40tify:{PASSWORD}@proxy.example:3128"}
    assert (proxy.username, proxy.address) == ("no@tify", "http://proxy.example:3128")
    assert PASSWORD not in repr(proxy)
    assert (
        proxy.hide(f"failed at {proxy.url}")
        == "failed at http://no%40tify:[REDACTED]@proxy.example:3128"
    )
    assert request_options(None) == {}


async def test_a_socks5_proxy_is_the_connector_s() -> None:
    from aiohttp_socks import ProxyConnector  # noqa: PLC0415 - the [socks] extra

    proxy = parse_proxy(f"socks5://notify:{PASSWORD}@proxy.example:1080")
    made = connector(proxy, 7)
    try:
        assert isinstance(made, ProxyConnector)
        assert made.limit == 7
        assert request_options(proxy) == {}  # nothing per request: the connector does it
    finally:
        await made.close()
