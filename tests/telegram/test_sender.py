"""The delivery path's own sender: for every answer of the emulator it raises what
python-telegram-bot raises (the error policy depends on it), it reports each call to the
metrics, and the bot token never appears in what it says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from bot.telegram.pacing import Limits, Pacer
from bot.telegram.sender import Sender
from bot.telegram.transport import NotConnected
from bot.testing import FakeTelegram
from tests.telegram.conftest import Answers

CHAT = 9001


@pytest.fixture
async def sender(telegram: FakeTelegram, answers: Answers) -> AsyncIterator[Sender]:
    telegram.add_chat(CHAT)
    pacer = Pacer(Limits(per_second=1000, chat_burst=1000))
    api_url = telegram.base_url + telegram.token
    sender = Sender(api_url, telegram.token, pacer, answers, connections=4, timeout=0.5)
    yield sender
    await sender.close()


@pytest.fixture
async def ptb(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    request = HTTPXRequest(read_timeout=0.5)
    async with Bot(telegram.token, base_url=telegram.base_url, request=request) as bot:
        yield bot


def what(exc: TelegramError) -> tuple[Any, ...]:
    """What the error policy reads from an error."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, timedelta):
        retry_after = retry_after.total_seconds()
    return type(exc), exc.message, retry_after, getattr(exc, "new_chat_id", None)


FAULTS = [
    (429, "Too Many Requests: retry after 3", {"retry_after": 3}),
    (400, "Bad Request: group chat was upgraded to a supergroup", {"migrate_to_chat_id": -1001}),
    (403, "Forbidden: bot was blocked by the user", None),
    (400, "Bad Request: message text is empty", None),
    (401, "Unauthorized", None),
    (404, "Not Found", None),
    (409, "Conflict: terminated by other getUpdates request", None),
    (500, "Internal Server Error", None),
    (502, "Bad Gateway", None),
]


@pytest.mark.parametrize(("code", "description", "parameters"), FAULTS)
async def test_an_error_answer_raises_what_python_telegram_bot_raises(
    sender: Sender,
    ptb: Bot,
    telegram: FakeTelegram,
    code: int,
    description: str,
    parameters: dict[str, Any] | None,
) -> None:
    telegram.fail_next("sendMessage", code, description, parameters=parameters, times=2)
    with pytest.raises(TelegramError) as theirs:
        await ptb.send_message(CHAT, "hi")
    with pytest.raises(TelegramError) as ours:
        await sender.send(CHAT, "sendMessage", {"text": "hi"})
    assert what(ours.value) == what(theirs.value)


async def test_a_sent_message_returns_its_id_and_is_counted(
    sender: Sender, telegram: FakeTelegram, answers: Answers
) -> None:
    first = await sender.send(CHAT, "sendMessage", {"text": "<b>literal</b> *text*"})
    second = await sender.send(CHAT, "sendMessage", {"text": "again"}, allow_paid_broadcast=True)
    assert first is not None
    assert second is not None
    assert second > first
    sent = telegram.sent
    assert [m.text for m in sent] == ["<b>literal</b> *text*", "again"]
    assert "parse_mode" not in sent[0].params
    assert "allow_paid_broadcast" not in sent[0].params
    assert sent[1].params["allow_paid_broadcast"] is True
    assert answers.answered == [("sendMessage", 200), ("sendMessage", 200)]


async def test_a_hung_request_times_out(
    sender: Sender, telegram: FakeTelegram, answers: Answers
) -> None:
    telegram.hang_next("sendMessage", 2.0)
    with pytest.raises(TelegramError, match="Timed out"):
        await sender.send(CHAT, "sendMessage", {"text": "hi"})
    assert answers.unreachable == [("sendMessage", "timeout", "Timed out")]


async def test_a_dropped_connection_is_a_network_error_not_a_refusal(
    sender: Sender, telegram: FakeTelegram, answers: Answers
) -> None:
    await sender.get_me()  # a connection is open, then the answer never comes
    telegram.drop_next("sendMessage")
    with pytest.raises(TelegramError) as caught:
        await sender.send(CHAT, "sendMessage", {"text": "hi"})
    assert not isinstance(caught.value, NotConnected)  # it may have arrived
    assert answers.unreachable[-1][:2] == ("sendMessage", "network")


async def test_an_unreachable_telegram_raises_not_connected_without_the_token(
    sender: Sender, telegram: FakeTelegram, answers: Answers
) -> None:
    telegram.go_offline()
    try:
        with pytest.raises(NotConnected) as caught:
            await sender.send(CHAT, "sendMessage", {"text": "hi"})
    finally:
        telegram.come_back()
    secret = telegram.token.split(":", 1)[1]
    assert secret not in str(caught.value)
    assert all(secret not in error for _, _, error in answers.unreachable)
    assert answers.unreachable[-1][:2] == ("sendMessage", "network")
    await sender.send(
        CHAT, "sendMessage", {"text": "back"}
    )  # the same sender works again afterwards
    assert [m.text for m in telegram.sent] == ["back"]


async def test_get_me_answers_the_bot(sender: Sender, telegram: FakeTelegram) -> None:
    me = await sender.get_me()
    assert me["is_bot"] is True
    assert me["id"] == int(telegram.token.split(":", 1)[0])
