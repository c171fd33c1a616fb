"""The bot's link rule against the emulator's model of Telegram's: a link the bot lets through
must be one Telegram takes, or the mistake shows up as a 400 at send time."""

from __future__ import annotations

import pytest

from bot.formatting.entities import check_link
from bot.testing.links import link_problem

URLS = [
    "https://shop.example/t/17",
    "http://shop.example:8080/a?b=1#c",
    "https://1.2.3.4/x",
    "https://[::1]/x",
    "tg://resolve?domain=notify_demo_bot",
    "http://localhost:3000/o/17",
    "https://intranet/x",
    "https://shop.example:99999/",
    "https://shop.example:0/",
    "tg://",
    "javascript:alert(1)",
    "mailto:a@shop.example",
    "ftp://shop.example/f",
]


@pytest.mark.parametrize("url", URLS)
def test_a_link_the_bot_accepts_is_one_telegram_takes(url: str) -> None:
    try:
        check_link(url)
    except ValueError:
        return  # refused when parsed: never reaches Telegram
    assert link_problem(url) is None, f"the bot accepts {url!r}, Telegram would refuse it"


def test_ordinary_links_are_accepted() -> None:
    for url in URLS[:5]:
        assert check_link(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "tg://proxy?server=evil.example&port=443&secret=00",
        "tg://socks?server=x&port=1",
        "TG://Login?token=x",
        "https://t.me/proxy?server=evil.example&port=443&secret=00",
        "https://telegram.me/socks?server=x&port=1",
        "https://T.ME/proxy/?server=x",
    ],
)
def test_links_that_would_set_a_proxy_or_log_in_are_refused_by_name(url: str) -> None:
    with pytest.raises(ValueError, match=r"(proxy|socks|login) links are refused"):
        check_link(url)


def test_ordinary_telegram_links_stay_allowed() -> None:
    for url in (
        "https://t.me/notify_demo_bot",
        "https://t.me/s/channel/17",
        "tg://resolve?domain=x",
    ):
        assert check_link(url) == url
