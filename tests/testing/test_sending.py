"""What every send method takes: protect_content, disable_notification, link_preview_options
(sendMessage) and message_thread_id, which only a forum's topics accept."""

from __future__ import annotations

import pytest
from telegram import Bot

from bot.testing import FakeTelegram
from tests.testing.api import Api

USER = 42
FORUM = -1001234567890
CAT = "https://example.com/cat.jpg"


@pytest.fixture(autouse=True)
def _chats(telegram: FakeTelegram) -> None:
    telegram.add_chat(USER)
    telegram.add_chat(FORUM, chat_type="supergroup", topics=(7, 9))


def test_protect_content_marks_the_message(api: Api, telegram: FakeTelegram) -> None:
    plain = api.result("sendMessage", chat_id=USER, text="a", disable_notification=True)
    assert "has_protected_content" not in plain
    protected = api.result("sendMessage", chat_id=USER, text="b", protect_content=True)
    assert protected["has_protected_content"] is True
    photo = api.result("sendPhoto", chat_id=USER, photo=CAT, protect_content=True)
    assert photo["has_protected_content"] is True
    assert telegram.sent[0].params["disable_notification"] is True


def test_a_thread_must_be_a_topic_of_the_forum(api: Api, telegram: FakeTelegram) -> None:
    message = api.result("sendMessage", chat_id=FORUM, text="in 7", message_thread_id=7)
    assert (message["message_thread_id"], message["is_topic_message"]) == (7, True)
    assert message["chat"]["is_forum"] is True
    assert message["chat"]["type"] == "supergroup"
    photo = api.result("sendPhoto", chat_id=FORUM, photo=CAT, message_thread_id=9)
    assert photo["message_thread_id"] == 9
    assert api.refusal("sendMessage", chat_id=FORUM, text="x", message_thread_id=8) == (
        "Bad Request: message thread not found"
    )
    assert api.refusal("sendDocument", chat_id=USER, document=CAT, message_thread_id=7) == (
        "Bad Request: message thread not found"
    )
    assert "message_thread_id" not in api.result("sendMessage", chat_id=FORUM, text="general")
    assert [m.text for m in telegram.sent] == ["in 7", "", "general"]


def test_topics_belong_to_supergroups(telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="supergroup"):
        telegram.add_chat(5, topics=(3,))


def test_link_preview_options_must_be_an_object(api: Api) -> None:
    options = {"is_disabled": True}
    message = api.result("sendMessage", chat_id=USER, text="a", link_preview_options=options)
    assert message["link_preview_options"] == options
    assert api.refusal("sendMessage", chat_id=USER, text="a", link_preview_options=[1]) == (
        "Bad Request: object expected as link preview options"
    )


async def test_python_telegram_bot_reads_the_flags(tg_bot: Bot) -> None:
    """Form-encoded, where "7" and "true" arrive as strings."""
    message = await tg_bot.send_message(
        FORUM, "hello", message_thread_id=7, protect_content=True, disable_notification=True
    )
    assert message.message_thread_id == 7
    assert message.is_topic_message
    assert message.has_protected_content
    assert message.chat.is_forum
