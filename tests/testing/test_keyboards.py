"""Inline keyboards and ForceReply: what Telegram refuses in `reply_markup`, what the Message
shows, what the emulator records, and what python-telegram-bot reads back from it."""

from __future__ import annotations

import pytest
from telegram import Bot, ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot.testing import FakeTelegram, JSONDict
from tests.testing.api import Api

CHAT = 42


@pytest.fixture(autouse=True)
def _chat(telegram: FakeTelegram) -> None:
    telegram.add_chat(CHAT)


def keyboard(*rows: object) -> JSONDict:
    return {"inline_keyboard": list(rows)}


def send(api: Api, markup: object) -> str:
    """The 400 description for a message with this reply_markup."""
    return api.refusal("sendMessage", chat_id=CHAT, text="pick", reply_markup=markup)


def test_the_keyboard_comes_back_in_the_message_and_in_sent(
    api: Api, telegram: FakeTelegram
) -> None:
    rows = [
        [{"text": "Yes", "callback_data": "y"}, {"text": "No", "callback_data": "n"}],
        [{"text": "Docs", "url": "https://example.com/docs"}],
    ]
    message = api.result("sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard(*rows))
    assert message["reply_markup"] == {"inline_keyboard": rows}
    assert telegram.sent[-1].buttons == rows


def test_callback_data_is_one_to_64_bytes_of_utf8(api: Api) -> None:
    fits = "é" * 32  # 64 bytes, 32 characters
    api.result(
        "sendMessage",
        chat_id=CHAT,
        text="pick",
        reply_markup=keyboard([{"text": "A", "callback_data": fits}]),
    )
    too_long = fits + "x"  # 65 bytes, though only 33 characters
    assert send(api, keyboard([{"text": "A", "callback_data": too_long}])) == (
        "Bad Request: BUTTON_DATA_INVALID"
    )
    # Empty callback_data is no callback_data: a text button, which inline keyboards refuse.
    assert send(api, keyboard([{"text": "A", "callback_data": ""}])) == (
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard"
    )


def test_a_button_has_exactly_one_action(api: Api) -> None:
    assert "Text buttons are unallowed" in send(api, keyboard([{"text": "A"}]))
    both = {"text": "A", "url": "https://example.com", "callback_data": "a"}
    assert send(api, keyboard([both])) == (
        "Bad Request: can't parse inline keyboard button: "
        "exactly one of url, callback_data must be used"
    )


@pytest.mark.parametrize(
    ("button", "description"),
    [
        (
            {"text": "A", "url": "ftp://files.example.com"},
            "Bad Request: inline keyboard button URL 'ftp://files.example.com' is invalid: "
            "Unsupported URL protocol",
        ),
        (
            {"text": "A", "url": "http://localhost:8080/x"},
            "Bad Request: inline keyboard button URL 'http://localhost:8080/x' is invalid: "
            "Wrong HTTP URL",
        ),
        (
            {"text": "", "callback_data": "a"},
            "Bad Request: inline keyboard button text must be non-empty",
        ),
        (
            {"callback_data": "a"},
            "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
        ),
        (
            "A",
            "Bad Request: can't parse inline keyboard button: "
            "InlineKeyboardButton must be an Object",
        ),
    ],
)
def test_malformed_buttons_are_refused(api: Api, button: object, description: str) -> None:
    assert send(api, keyboard([button])) == description


def test_url_buttons_take_http_https_and_tg_links(api: Api) -> None:
    row = [
        {"text": "a", "url": "http://example.com"},
        {"text": "b", "url": "https://t.me/notify_demo_bot?start=x"},
        {"text": "c", "url": "tg://resolve?domain=notify_demo_bot"},
    ]
    api.result("sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard(row))


def test_more_than_100_buttons_are_refused(api: Api) -> None:
    def rows(count: int) -> list[list[JSONDict]]:
        buttons = [{"text": str(n), "callback_data": str(n)} for n in range(count)]
        return [buttons[i : i + 8] for i in range(0, count, 8)]

    api.result("sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard(*rows(100)))
    assert send(api, keyboard(*rows(101))) == "Bad Request: reply markup is too long"


def test_an_empty_row_is_refused(api: Api) -> None:
    assert send(api, keyboard([{"text": "A", "callback_data": "a"}], [])) == (
        "Bad Request: inline keyboard row must be non-empty"
    )
    assert send(api, {"inline_keyboard": [{"text": "A"}]}) == (
        'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array '
        "of Arrays"
    )


def test_other_reply_markups_pass_without_buttons(api: Api, telegram: FakeTelegram) -> None:
    message = api.result(
        "sendMessage", chat_id=CHAT, text="bye", reply_markup={"remove_keyboard": True}
    )
    assert "reply_markup" not in message
    assert telegram.sent[-1].buttons == []


def test_an_edit_without_a_keyboard_takes_it_off(api: Api, telegram: FakeTelegram) -> None:
    rows = [[{"text": "Yes", "callback_data": "y"}]]
    sent = api.result("sendMessage", chat_id=CHAT, text="pick", reply_markup=keyboard(*rows))
    # Same text, same keyboard: nothing to change.
    assert "message is not modified" in api.refusal(
        "editMessageText",
        chat_id=CHAT,
        message_id=sent["message_id"],
        text="pick",
        reply_markup=keyboard(*rows),
    )
    edited = api.result("editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="pick")
    assert "reply_markup" not in edited
    assert telegram.sent[-1].buttons == []


async def test_python_telegram_bot_reads_entities_and_keyboard(tg_bot: Bot) -> None:
    """Form-encoded, as python-telegram-bot posts it, and parsed back into its objects."""
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="y"),
                InlineKeyboardButton("No", url="https://example.com"),
            ]
        ]
    )
    message = await tg_bot.send_message(
        CHAT,
        "Hello 😀 world",
        entities=[MessageEntity("bold", 0, 5), MessageEntity("italic", 9, 5)],
        reply_markup=markup,
    )
    assert message.entities == (MessageEntity("bold", 0, 5), MessageEntity("italic", 9, 5))
    assert message.parse_entity(message.entities[1]) == "world"  # after the 2-unit emoji
    assert message.reply_markup == markup


def test_a_force_reply_is_kept_on_the_sent_message_not_in_telegrams_answer(
    api: Api, telegram: FakeTelegram
) -> None:
    markup = {"force_reply": True, "input_field_placeholder": "you@example.com"}
    message = api.result("sendMessage", chat_id=CHAT, text="Your e-mail?", reply_markup=markup)
    assert "reply_markup" not in message  # only inline keyboards show in a Message
    [sent] = telegram.sent
    assert (sent.force_reply, sent.placeholder, sent.buttons) == (True, "you@example.com", [])
    plain = api.result("sendMessage", chat_id=CHAT, text="hi")
    assert "reply_markup" not in plain
    assert (telegram.sent[-1].force_reply, telegram.sent[-1].placeholder) == (False, None)


def test_a_force_reply_without_placeholder_or_with_an_empty_one_has_none(
    api: Api, telegram: FakeTelegram
) -> None:
    api.result("sendMessage", chat_id=CHAT, text="a", reply_markup={"force_reply": True})
    # TDLib sends an empty placeholder as none at all.
    markup = {"force_reply": True, "input_field_placeholder": "", "selective": True}
    api.result("sendMessage", chat_id=CHAT, text="b", reply_markup=markup)
    assert [(m.force_reply, m.placeholder) for m in telegram.sent] == [(True, None), (True, None)]


def test_force_reply_false_asks_for_nothing_and_an_inline_keyboard_wins(
    api: Api, telegram: FakeTelegram
) -> None:
    """The Bot API server's get_reply_markup: keyboard, then inline keyboard, then removal,
    then force_reply; `false` is no markup at all."""
    api.result("sendMessage", chat_id=CHAT, text="a", reply_markup={"force_reply": False})
    both = {**keyboard([{"text": "Yes", "callback_data": "y"}]), "force_reply": True}
    message = api.result("sendMessage", chat_id=CHAT, text="b", reply_markup=both)
    assert message["reply_markup"] == keyboard([{"text": "Yes", "callback_data": "y"}])
    assert [m.force_reply for m in telegram.sent] == [False, False]


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        ({"force_reply": "yes"}, 'Bad Request: field "force_reply" must be of type Boolean'),
        (
            {"force_reply": True, "selective": 1},
            'Bad Request: field "selective" must be of type Boolean',
        ),
        (
            {"force_reply": True, "input_field_placeholder": 5},
            'Bad Request: field "input_field_placeholder" must be of type String',
        ),
        (
            {"force_reply": True, "input_field_placeholder": "x" * 65},
            "Bad Request: input field placeholder must be at most 64 characters",
        ),
    ],
)
def test_a_force_reply_telegram_cannot_read_is_refused(
    api: Api, markup: JSONDict, description: str
) -> None:
    assert send(api, markup) == description


def test_the_placeholder_is_counted_in_utf16_code_units(api: Api, telegram: FakeTelegram) -> None:
    fits = {"force_reply": True, "input_field_placeholder": "😀" * 32}  # 64 code units
    api.result("sendMessage", chat_id=CHAT, text="a", reply_markup=fits)
    assert telegram.sent[-1].placeholder == "😀" * 32
    over = {"force_reply": True, "input_field_placeholder": "😀" * 32 + "x"}
    assert send(api, over) == "Bad Request: input field placeholder must be at most 64 characters"


def test_a_channel_takes_no_force_reply(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_channel(-1009876543210)
    description = api.refusal(
        "sendMessage", chat_id=-1009876543210, text="?", reply_markup={"force_reply": True}
    )
    assert description == "Bad Request: inline keyboard expected"


async def test_python_telegram_bots_force_reply_arrives(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    await tg_bot.send_message(
        CHAT, "Your e-mail?", reply_markup=ForceReply(input_field_placeholder="you@example.com")
    )
    await tg_bot.send_photo(
        CHAT, "https://example.com/cat.jpg", reply_markup=ForceReply(selective=True)
    )
    assert [(m.force_reply, m.placeholder) for m in telegram.sent] == [
        (True, "you@example.com"),
        (True, None),
    ]
