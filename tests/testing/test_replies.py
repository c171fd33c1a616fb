"""Replies both ways: the bot's sends with reply_parameters (or reply_to_message_id), and users'
messages that reply (`user_says(..., reply_to=)`, with `entities=` for formatted text), shaped
as Telegram shapes reply_to_message: the replied message without a reply of its own."""

from __future__ import annotations

import pytest
from telegram import Bot, MessageEntity, ReplyParameters

from bot.testing import FakeTelegram, JSONDict
from tests.testing.api import Api

USER = 42
GROUP = -123
FORUM = -1001234567890
OWNER, MEMBER = 1, 3
NOT_FOUND = "Bad Request: message to be replied not found"


@pytest.fixture(autouse=True)
def _chats(telegram: FakeTelegram) -> None:
    telegram.add_chat(USER)


def test_a_reply_carries_the_replied_message_without_its_own_reply(
    api: Api, telegram: FakeTelegram
) -> None:
    first = telegram.user_says(USER, "hello")["message"]
    answer = api.result(
        "sendMessage",
        chat_id=USER,
        text="hi!",
        reply_parameters={"message_id": first["message_id"]},
    )
    assert answer["reply_to_message"] == first
    again = api.result(
        "sendMessage",
        chat_id=USER,
        text="and again",
        reply_parameters={"message_id": answer["message_id"]},
    )
    replied = again["reply_to_message"]
    assert replied["message_id"] == answer["message_id"]
    assert replied["text"] == "hi!"
    assert "reply_to_message" not in replied  # Telegram writes no nested reply
    assert [m.reply_to for m in telegram.sent] == [first["message_id"], answer["message_id"]]


def test_a_message_the_chat_lacks_is_refused_unless_sending_without_reply_is_allowed(
    api: Api, telegram: FakeTelegram
) -> None:
    telegram.add_chat(7)
    elsewhere = api.result("sendMessage", chat_id=7, text="in another chat")["message_id"]
    for missing in (999, elsewhere):
        description = api.refusal(
            "sendMessage", chat_id=USER, text="x", reply_parameters={"message_id": missing}
        )
        assert description == NOT_FOUND
    sent = api.result(
        "sendMessage",
        chat_id=USER,
        text="anyway",
        reply_parameters={"message_id": 999, "allow_sending_without_reply": True},
    )
    assert "reply_to_message" not in sent
    assert telegram.sent[-1].reply_to is None


def test_a_deleted_message_can_no_longer_be_replied_to(api: Api, telegram: FakeTelegram) -> None:
    sent = api.result("sendMessage", chat_id=USER, text="soon gone")
    api.result("deleteMessage", chat_id=USER, message_id=sent["message_id"])
    description = api.refusal(
        "sendMessage", chat_id=USER, text="x", reply_parameters={"message_id": sent["message_id"]}
    )
    assert description == NOT_FOUND


def test_the_older_reply_to_message_id_still_works(api: Api, telegram: FakeTelegram) -> None:
    said = telegram.user_says(USER, "hello")["message"]
    sent = api.result(
        "sendMessage", chat_id=USER, text="hi", reply_to_message_id=said["message_id"]
    )
    assert sent["reply_to_message"]["message_id"] == said["message_id"]
    assert api.refusal("sendMessage", chat_id=USER, text="x", reply_to_message_id=999) == NOT_FOUND
    loose = api.result(
        "sendMessage",
        chat_id=USER,
        text="x",
        reply_to_message_id=999,
        allow_sending_without_reply=True,
    )
    assert "reply_to_message" not in loose


@pytest.mark.parametrize(
    ("parameters", "description"),
    [
        ("{not json", "Bad Request: can't parse reply parameters JSON object"),
        ([1], "Bad Request: object expected as reply parameters"),
        ({"allow_sending_without_reply": True}, 'Bad Request: can\'t find field "message_id"'),
        ({"message_id": [1]}, 'Bad Request: field "message_id" must be of type Number'),
        (
            {"message_id": 1, "allow_sending_without_reply": "yes"},
            'Bad Request: field "allow_sending_without_reply" must be of type Boolean',
        ),
        # Ours: a reply to another chat's message would be an external_reply, not emulated.
        ({"message_id": 1, "chat_id": 7}, "Bad Request: replies to another chat are not emulated"),
    ],
)
def test_reply_parameters_telegram_cannot_read_are_refused(
    api: Api, parameters: object, description: str
) -> None:
    assert (
        api.refusal("sendMessage", chat_id=USER, text="x", reply_parameters=parameters)
        == description
    )


def test_empty_reply_parameters_or_a_message_id_of_zero_are_no_reply_in_any_send(
    api: Api, telegram: FakeTelegram
) -> None:
    first = api.result("sendMessage", chat_id=USER, text="a", reply_parameters={})
    api.result("sendMessage", chat_id=USER, text="b", reply_parameters={"message_id": 0})
    # The chat's own id as reply_parameters.chat_id is the same chat.
    same_chat = {"message_id": first["message_id"], "chat_id": USER}
    api.result("sendMessage", chat_id=USER, text="c", reply_parameters=same_chat)
    assert [m.reply_to for m in telegram.sent] == [None, None, first["message_id"]]
    assert (
        api.refusal(
            "sendPhoto",
            chat_id=USER,
            photo="https://example.com/cat.jpg",
            reply_parameters={"message_id": 77},
        )
        == NOT_FOUND
    )


def test_an_explicit_reply_in_a_topic_wins_over_the_topic_root(
    api: Api, telegram: FakeTelegram
) -> None:
    telegram.add_chat(FORUM, chat_type="supergroup", topics=(7,))
    said = telegram.user_says(MEMBER, "question", chat=FORUM, thread_id=7)["message"]
    assert said["reply_to_message"]["forum_topic_created"] == {
        "name": "Topic 7",
        "icon_color": 0x6FB9F0,
    }
    in_topic = api.result("sendMessage", chat_id=FORUM, text="root", message_thread_id=7)
    assert in_topic["reply_to_message"]["message_id"] == 7
    answer = api.result(
        "sendMessage",
        chat_id=FORUM,
        text="answer",
        message_thread_id=7,
        reply_parameters={"message_id": said["message_id"]},
    )
    assert answer["reply_to_message"]["message_id"] == said["message_id"]
    assert "reply_to_message" not in answer["reply_to_message"]  # not the root inside it
    reply = telegram.user_says(
        MEMBER, "thanks", chat=FORUM, thread_id=7, reply_to=answer["message_id"]
    )["message"]
    assert reply["reply_to_message"]["text"] == "answer"
    assert (reply["message_thread_id"], reply["is_topic_message"]) == (7, True)


async def test_python_telegram_bot_reads_the_reply(tg_bot: Bot, telegram: FakeTelegram) -> None:
    said = telegram.user_says(USER, "hello")["message"]
    answer = await tg_bot.send_message(
        USER, "hi", reply_parameters=ReplyParameters(said["message_id"])
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "hello"
    await tg_bot.send_message(
        USER,
        "anyway",
        reply_parameters=ReplyParameters(999, allow_sending_without_reply=True),
    )
    assert [m.reply_to for m in telegram.sent] == [said["message_id"], None]


# -- users' replies ------------------------------------------------------------------------


def test_a_user_replies_to_the_bots_message(api: Api, telegram: FakeTelegram) -> None:
    asked = api.result(
        "sendMessage",
        chat_id=USER,
        text="Your e-mail?",
        reply_markup={"force_reply": True, "input_field_placeholder": "you@example.com"},
    )
    update = telegram.user_says(USER, "me@example.com", reply_to=asked["message_id"])
    assert update["message"]["reply_to_message"] == asked
    [got] = api.result("getUpdates")
    assert got == update


def test_a_reply_to_a_reply_carries_no_nested_reply(telegram: FakeTelegram) -> None:
    first = telegram.user_says(USER, "one")["message"]
    second = telegram.user_says(USER, "two", reply_to=first["message_id"])["message"]
    third = telegram.user_says(USER, "three", reply_to=second["message_id"])["message"]
    assert third["reply_to_message"]["message_id"] == second["message_id"]
    assert "reply_to_message" not in third["reply_to_message"]


def test_a_reply_to_a_message_the_chat_lacks_is_a_value_error(
    api: Api, telegram: FakeTelegram
) -> None:
    telegram.add_chat(7)
    elsewhere = api.result("sendMessage", chat_id=7, text="elsewhere")["message_id"]
    for missing in (999, elsewhere):
        with pytest.raises(ValueError, match=f"chat {USER} has no message {missing}"):
            telegram.user_says(USER, "hm", reply_to=missing)
    assert api.result("getUpdates") == []


def test_a_forged_reply_is_put_in_as_given(api: Api, telegram: FakeTelegram) -> None:
    forged: JSONDict = {
        "message_id": 4242,
        "chat": {"id": USER, "type": "private"},
        "date": 0,
        "text": "never sent",
    }
    update = telegram.user_says(USER, "see above", reply_to=forged)
    [got] = api.result("getUpdates")
    assert got["message"]["reply_to_message"] == forged == update["message"]["reply_to_message"]


def test_in_privacy_mode_the_bot_hears_replies_to_its_own_messages(
    api: Api, telegram: FakeTelegram
) -> None:
    telegram.add_group(GROUP, creator=OWNER, members=(MEMBER,), bot_status="member")
    asked = api.result("sendMessage", chat_id=GROUP, text="Who is in?")
    said = telegram.user_says(MEMBER, "chatter", chat=GROUP)["message"]
    telegram.user_says(MEMBER, "me", chat=GROUP, reply_to=asked["message_id"])
    telegram.user_says(OWNER, "not to the bot", chat=GROUP, reply_to=said["message_id"])
    assert [u["message"]["text"] for u in api.result("getUpdates")] == ["me"]


def test_formatted_text_carries_its_entities_with_the_command_one(
    api: Api, telegram: FakeTelegram
) -> None:
    bold = {"type": "bold", "offset": 7, "length": 2}
    spoiler = {"type": "spoiler", "offset": 0, "length": 6}
    message = telegram.user_says(USER, "/start 😀 yes", entities=[bold, spoiler])["message"]
    assert message["entities"] == [
        {"type": "bot_command", "offset": 0, "length": 6},
        spoiler,
        bold,
    ]
    plain = telegram.user_says(USER, "just **this**", entities=[])["message"]
    assert "entities" not in plain


def test_entities_telegram_would_refuse_are_a_value_error(telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="ends after the end of the text"):
        telegram.user_says(USER, "short", entities=[{"type": "bold", "offset": 2, "length": 9}])
    with pytest.raises(ValueError, match="UTF-16"):
        telegram.user_says(USER, "😀", entities=[{"type": "bold", "offset": 1, "length": 1}])


async def test_python_telegram_bot_reads_a_users_reply_and_entities(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    asked = await tg_bot.send_message(USER, "Name?")
    telegram.user_says(
        USER,
        "Ada Lovelace",
        reply_to=asked.message_id,
        entities=[{"type": "italic", "offset": 4, "length": 8}],
    )
    [update] = await tg_bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.reply_to_message is not None
    assert update.message.reply_to_message.message_id == asked.message_id
    assert update.message.reply_to_message.from_user is not None
    assert update.message.reply_to_message.from_user.id == tg_bot.id
    assert update.message.parse_entities([MessageEntity.ITALIC]) == {
        MessageEntity(MessageEntity.ITALIC, 4, 8): "Lovelace"
    }
