"""The emulator's flood control: Telegram's limits, worked out by hand on an explicit clock, and
answered over HTTP as Telegram answers them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from bot.testing import FakeTelegram, FloodLimits
from bot.testing.flood import FloodControl


def test_a_private_chat_takes_a_burst_of_three_then_one_each_second() -> None:
    flood = FloodControl(FloodLimits())
    assert [flood.admit(42, t) for t in (0.0, 0.1, 0.2)] == [0.0, 0.0, 0.0]
    assert flood.admit(42, 0.5) == pytest.approx(2.5)  # the first leaves the 3 s window at 3.0
    assert flood.admit(43, 0.5) == 0.0  # another chat is not held up
    assert flood.admit(42, 3.0) == 0.0
    assert flood.admit(42, 3.05) == pytest.approx(0.05)  # the one at 0.1 leaves at 3.1


def test_a_refused_message_is_not_counted() -> None:
    flood = FloodControl(FloodLimits())
    for t in (0.0, 0.1, 0.2):
        flood.admit(42, t)
    for t in (0.3, 0.4, 2.9):
        assert flood.admit(42, t) > 0
    assert flood.admit(42, 3.0) == 0.0  # the refusals did not push the window along


def test_thirty_a_second_overall() -> None:
    flood = FloodControl(FloodLimits())
    for n in range(30):
        assert flood.admit(1000 + n, n / 100) == 0.0  # 30 chats within 0.3 s
    assert flood.admit(2000, 0.5) == pytest.approx(0.5)
    assert flood.admit(2000, 1.0) == 0.0


def test_a_group_takes_twenty_a_minute() -> None:
    flood = FloodControl(FloodLimits())
    for n in range(20):
        assert flood.admit(-100123, n * 1.0) == 0.0
    assert flood.admit(-100123, 30.0) == pytest.approx(30.0)  # the first leaves at 60
    assert flood.admit(-100123, 60.0) == 0.0


def test_paid_broadcasts_raise_the_overall_limit() -> None:
    flood = FloodControl(FloodLimits(per_second=1000))
    assert all(flood.admit(n, n / 2000) == 0.0 for n in range(1, 1001))
    assert flood.admit(5000, 0.6) > 0


def test_an_overall_rate_below_one_a_second_spaces_single_messages() -> None:
    flood = FloodControl(FloodLimits(per_second=0.5))
    assert flood.admit(1, 0.0) == 0.0
    assert flood.admit(2, 1.0) == pytest.approx(1.0)  # one in any 2 s
    assert flood.admit(2, 2.0) == 0.0


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert FloodControl.retry_after(0.01) == 1
    assert FloodControl.retry_after(2.5) == 3
    assert FloodControl.retry_after(3.0) == 3


@pytest.fixture
async def limited(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    telegram.add_chat(42)
    telegram.set_limits(FloodLimits(chat_burst=2, chat_period=10.0))
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        yield bot


async def test_the_emulator_answers_429_with_retry_after(
    limited: Bot, telegram: FakeTelegram
) -> None:
    await limited.send_message(42, "one")
    await limited.send_message(42, "two")
    with pytest.raises(RetryAfter) as flood:
        await limited.send_message(42, "three")
    assert flood.value.retry_after == timedelta(seconds=10)
    assert telegram.rate_limited == 1
    assert [m.text for m in telegram.sent] == ["one", "two"]


def test_the_429_body_is_shaped_like_telegrams(telegram: FakeTelegram) -> None:
    telegram.add_chat(42)
    telegram.set_limits(FloodLimits(chat_burst=1, chat_period=10.0))
    url = f"{telegram.base_url}{telegram.token}/sendMessage"
    answers = []
    for text in ("one", "two"):
        data = f"chat_id=42&text={text}".encode()
        try:
            with urllib.request.urlopen(url, data=data, timeout=5) as response:  # noqa: S310
                answers.append((response.status, json.loads(response.read())))
        except urllib.error.HTTPError as exc:
            answers.append((exc.code, json.loads(exc.read())))
    assert answers[0][0] == 200
    assert answers[1] == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 10",
            "parameters": {"retry_after": 10},
        },
    )


async def test_lifting_the_limits_lets_a_burst_through(
    limited: Bot, telegram: FakeTelegram
) -> None:
    telegram.set_limits(None)
    for n in range(5):
        await limited.send_message(42, f"m{n}")
    assert len(telegram.sent) == 5
    assert telegram.rate_limited == 0
