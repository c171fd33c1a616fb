"""The bot's pacing: its sliding windows on explicit clocks, and its grants checked against the
emulator's independent model of Telegram's limits."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.telegram.pacing import Limits, PacedRequests, Pacer, ReplyDropped, SlidingWindow
from bot.testing import FloodLimits
from bot.testing.flood import FloodControl
from tests.isolation import TIMING

pytestmark = TIMING  # it measures time


def test_a_window_admits_its_limit_then_says_how_long_to_wait() -> None:
    window = SlidingWindow(limit=3, period=1.0)
    for t in (0.0, 0.1, 0.2):
        assert window.wait_time(t) == 0
        window.record(t)
    assert window.wait_time(0.5) == 0.5  # the first event leaves the window at 1.0
    assert window.wait_time(1.0) == 0


def test_telegram_limits_by_chat_kind() -> None:
    limits = Limits()
    private, group = limits.for_chat(42), limits.for_chat(-100123)
    assert (private.limit, private.period) == (3, 3.0)  # ~1/s, bursts of 3
    assert (group.limit, group.period) == (20, 60.0)  # 20 per minute
    overall = limits.overall()
    assert (overall.limit, overall.period) == (30, 1.0)


def test_a_rate_below_one_per_second_is_kept() -> None:
    overall = Limits(per_second=0.5).overall()
    assert (overall.limit, overall.period) == (1, 2.0)


async def test_the_pacer_holds_a_fourth_message_to_one_chat_but_not_other_chats() -> None:
    pacer = Pacer(Limits(per_second=1000, chat_burst=3, chat_per_second=20))
    for _ in range(3):
        await pacer.wait_turn(1)
    order: list[int] = []
    started = time.monotonic()

    async def send(chat: int) -> None:
        await pacer.wait_turn(chat)
        order.append(chat)

    # The burst to chat 1 is spent: its fourth waits ~3/20 s; chat 2 goes first meanwhile.
    await asyncio.gather(send(1), send(2))
    assert order == [2, 1]
    assert time.monotonic() - started >= 0.14


async def test_a_pause_holds_everyone_in_order() -> None:
    pacer = Pacer(Limits(per_second=1000, chat_burst=100))
    pacer.pause(0.2)
    order: list[int] = []

    async def send(chat: int) -> None:
        await pacer.wait_turn(chat)
        order.append(chat)

    started = time.monotonic()
    await asyncio.gather(*(send(chat) for chat in range(5)))
    assert time.monotonic() - started >= 0.19
    assert order == [0, 1, 2, 3, 4]


async def _grants(pacer: Pacer, chats: list[int]) -> list[tuple[int, float]]:
    """When the pacer let each send go, one after another as the bot's lanes would."""

    async def lane(chat: int, sends: int) -> list[tuple[int, float]]:
        granted = []
        for _ in range(sends):
            await pacer.wait_turn(chat)
            granted.append((chat, time.monotonic()))
        return granted

    lanes = await asyncio.gather(*(lane(chat, chats.count(chat)) for chat in set(chats)))
    return sorted((grant for granted in lanes for grant in granted), key=lambda g: g[1])


async def test_what_the_pacer_lets_through_telegrams_model_admits() -> None:
    """The bot's pacer checked against the emulator's own model of Telegram's limits (written
    apart from it): a send the pacer allows must never be one Telegram would refuse."""
    pacer = Pacer(Limits(per_second=30, chat_burst=3, chat_per_second=10))
    telegram = FloodControl(FloodLimits(per_second=30, chat_burst=3, chat_period=0.3))
    grants = await _grants(pacer, [chat for _ in range(9) for chat in range(1, 6)])  # 45 sends
    refused = [(chat, at) for chat, at in grants if telegram.admit(chat, at) > 0]
    assert refused == []
    elapsed = grants[-1][1] - grants[0][1]
    assert elapsed >= 44 / 30  # and it did hold them back to 30/s


async def test_a_pacer_looser_than_telegram_is_caught_by_the_model() -> None:
    """The two models can disagree, and then the test says so: a burst of 4 to one chat where
    Telegram takes 3."""
    pacer = Pacer(Limits(per_second=30, chat_burst=4, chat_per_second=10))
    telegram = FloodControl(FloodLimits(per_second=30, chat_burst=3, chat_period=0.3))
    grants = await _grants(pacer, [7, 7, 7, 7])
    assert [telegram.admit(chat, at) > 0 for chat, at in grants] == [False, False, False, True]


async def test_requests_to_one_chat_made_side_by_side_keep_its_limit() -> None:
    """Command replies are handled concurrently: six at once to one chat must still be spaced
    by the chat's window (they all used to see it empty and go at once)."""
    pacer = Pacer(Limits(per_second=1000, chat_burst=3, chat_per_second=20))
    telegram = FloodControl(FloodLimits(per_second=1000, chat_burst=3, chat_period=0.15))
    grants: list[float] = []

    async def reply() -> None:
        await pacer.wait_turn(5)
        grants.append(time.monotonic())

    await asyncio.gather(*(reply() for _ in range(6)))
    assert [telegram.admit(5, at) > 0 for at in sorted(grants)] == [False] * 6


async def test_a_reply_whose_chats_turn_is_far_off_is_dropped_not_kept_waiting() -> None:
    """A group's 20 a minute spent (a flood there): a reply to it would wait the better part of
    a minute, holding up that chat's next updates; it is not made (ReplyDropped) once the wait
    passes `max_wait`, and the chat's budget is not charged for it."""
    pacer = Pacer(Limits(group_per_minute=20))
    group = -1001000000777
    for _ in range(20):
        await pacer.wait_turn(group)
    made: list[str] = []

    async def send(*_args: object, **_kwargs: object) -> bool:
        made.append("sendMessage")
        return True

    limiter = PacedRequests(pacer, max_wait=0.2)
    started = time.monotonic()
    with pytest.raises(ReplyDropped):
        await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": group}, None)
    assert time.monotonic() - started < 1.0
    assert made == []
    # A private chat with its turn now is answered at once, flood or not.
    assert await limiter.process_request(send, (), {}, "sendMessage", {"chat_id": 42}, None)
    assert made == ["sendMessage"]
    # What is no message takes no turn and is never dropped: an admin check, a token's post
    # deleted, in that same spent group.
    for method in ("getChatMember", "deleteMessage"):
        await limiter.process_request(send, (), {}, method, {"chat_id": group}, None)
    assert made == ["sendMessage"] * 3
