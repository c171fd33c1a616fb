"""Changing what the bot sent: editMessageText, editMessageCaption, editMessageReplyMarkup and
deleteMessage, with Telegram's descriptions, and the 48-hour limit on deleting."""

from __future__ import annotations

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity

from bot.testing import FakeTelegram, JSONDict
from tests.testing.api import Api

CHAT = 42
CAT = "https://example.com/pictures/cat.jpg"
TWO_DAYS = 2 * 86400
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
ROWS = [[{"text": "Yes", "callback_data": "y"}]]
EDITS: list[tuple[str, JSONDict]] = [
    ("editMessageText", {"text": "new"}),
    ("editMessageCaption", {"caption": "new"}),
    ("editMessageReplyMarkup", {"reply_markup": {"inline_keyboard": ROWS}}),
]


@pytest.fixture(autouse=True)
def _chat(telegram: FakeTelegram) -> None:
    telegram.add_chat(CHAT)


def send_text(api: Api, text: str = "hello", chat_id: int = CHAT, **params: object) -> int:
    message = api.result("sendMessage", chat_id=chat_id, text=text, **params)
    return int(message["message_id"])


def send_photo(api: Api, caption: str = "a cat", **params: object) -> int:
    message = api.result("sendPhoto", chat_id=CHAT, photo=CAT, caption=caption, **params)
    return int(message["message_id"])


# -- editMessageCaption ------------------------------------------------------------------------


def test_a_caption_is_edited_with_entities_and_keyboard(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_photo(api)
    entities = [{"type": "bold", "offset": 4, "length": 2}]
    edited = api.result(
        "editMessageCaption",
        chat_id=CHAT,
        message_id=message_id,
        caption="Cat 😀 here",
        caption_entities=entities,
        reply_markup={"inline_keyboard": ROWS},
    )
    assert (edited["caption"], edited["caption_entities"]) == ("Cat 😀 here", entities)
    assert edited["reply_markup"] == {"inline_keyboard": ROWS}
    assert edited["photo"]
    assert edited["edit_date"]
    [sent] = telegram.sent
    assert (sent.text, sent.entities, sent.buttons, sent.media) == (
        "Cat 😀 here",
        entities,
        ROWS,
        CAT,
    )
    assert telegram.edits == [sent]


def test_a_caption_left_out_is_removed(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_photo(api, caption_entities=[{"type": "bold", "offset": 0, "length": 1}])
    edited = api.result("editMessageCaption", chat_id=CHAT, message_id=message_id)
    assert "caption" not in edited
    assert "caption_entities" not in edited
    assert (telegram.sent[0].text, telegram.sent[0].entities) == ("", [])
    assert api.refusal("editMessageCaption", chat_id=CHAT, message_id=message_id) == NOT_MODIFIED


def test_an_edited_caption_over_1024_utf16_units_is_refused(
    api: Api, telegram: FakeTelegram
) -> None:
    message_id = send_photo(api)
    # An edit's length is the servers' to check, in their own words (a send's is TDLib's).
    assert (
        api.refusal("editMessageCaption", chat_id=CHAT, message_id=message_id, caption="😀" * 513)
        == "Bad Request: MEDIA_CAPTION_TOO_LONG"
    )
    api.result("editMessageCaption", chat_id=CHAT, message_id=message_id, caption="😀" * 512)
    assert len(telegram.sent[0].text) == 512


def test_a_text_message_has_no_caption_to_edit(api: Api) -> None:
    message_id = send_text(api)
    assert (
        api.refusal("editMessageCaption", chat_id=CHAT, message_id=message_id, caption="a cat")
        == "Bad Request: there is no caption in the message to edit"
    )


def test_the_same_caption_and_keyboard_are_not_modified(api: Api) -> None:
    message_id = send_photo(api, reply_markup={"inline_keyboard": ROWS})
    same = {"caption": "a cat", "reply_markup": {"inline_keyboard": ROWS}}
    assert api.refusal("editMessageCaption", chat_id=CHAT, message_id=message_id, **same) == (
        NOT_MODIFIED
    )
    # The same caption without the keyboard takes the keyboard off: a change.
    edited = api.result("editMessageCaption", chat_id=CHAT, message_id=message_id, caption="a cat")
    assert "reply_markup" not in edited


def test_caption_entities_are_checked_against_the_new_caption(api: Api) -> None:
    message_id = send_photo(api, caption="a long caption")
    assert "ends after the end of the text" in api.refusal(
        "editMessageCaption",
        chat_id=CHAT,
        message_id=message_id,
        caption="cat",
        caption_entities=[{"type": "bold", "offset": 0, "length": 4}],
    )


# -- editMessageReplyMarkup --------------------------------------------------------------------


def test_a_keyboard_is_put_on_changed_and_taken_off(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_text(api)
    edited = api.result(
        "editMessageReplyMarkup",
        chat_id=CHAT,
        message_id=message_id,
        reply_markup={"inline_keyboard": ROWS},
    )
    assert edited["reply_markup"] == {"inline_keyboard": ROWS}
    assert (edited["text"], edited["message_id"]) == ("hello", message_id)
    assert telegram.sent[0].buttons == ROWS
    assert (
        api.refusal(
            "editMessageReplyMarkup",
            chat_id=CHAT,
            message_id=message_id,
            reply_markup={"inline_keyboard": ROWS},
        )
        == NOT_MODIFIED
    )
    removed = api.result("editMessageReplyMarkup", chat_id=CHAT, message_id=message_id)
    assert "reply_markup" not in removed
    assert telegram.sent[0].buttons == []
    # No keyboard, and none asked for.
    assert api.refusal("editMessageReplyMarkup", chat_id=CHAT, message_id=message_id) == (
        NOT_MODIFIED
    )
    assert [e.buttons for e in telegram.edits] == [ROWS, []]


def test_a_photos_keyboard_is_edited_and_its_caption_kept(api: Api) -> None:
    message_id = send_photo(api, caption_entities=[{"type": "italic", "offset": 0, "length": 1}])
    edited = api.result(
        "editMessageReplyMarkup",
        chat_id=CHAT,
        message_id=message_id,
        reply_markup={"inline_keyboard": ROWS},
    )
    assert edited["caption"] == "a cat"
    assert edited["caption_entities"] == [{"type": "italic", "offset": 0, "length": 1}]


def test_a_bad_keyboard_in_an_edit_is_refused(api: Api) -> None:
    message_id = send_text(api)
    assert api.refusal(
        "editMessageReplyMarkup",
        chat_id=CHAT,
        message_id=message_id,
        reply_markup={"inline_keyboard": [[{"text": "A"}]]},
    ) == (
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard"
    )


# -- editMessageText ---------------------------------------------------------------------------


def test_an_edited_text_takes_link_preview_options(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_text(api, "see https://example.com")
    options = {"is_disabled": True}
    edited = api.result(
        "editMessageText",
        chat_id=CHAT,
        message_id=message_id,
        text="see https://example.org",
        link_preview_options=options,
    )
    assert edited["link_preview_options"] == options
    # Left out of the next edit, the options are the default again.
    edited = api.result("editMessageText", chat_id=CHAT, message_id=message_id, text="see")
    assert "link_preview_options" not in edited
    assert [e.text for e in telegram.edits] == ["see https://example.org", "see"]
    assert (
        api.refusal(
            "editMessageText",
            chat_id=CHAT,
            message_id=message_id,
            text="again",
            link_preview_options=["is_disabled"],
        )
        == "Bad Request: object expected as link preview options"
    )


def test_an_edited_texts_entities_are_checked(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_text(api)
    assert "ends after the end of the text" in api.refusal(
        "editMessageText",
        chat_id=CHAT,
        message_id=message_id,
        text="hi",
        entities=[{"type": "bold", "offset": 0, "length": 3}],
    )
    assert (
        api.refusal(
            "editMessageText",
            chat_id=CHAT,
            message_id=message_id,
            text="hi",
            entities=[{"type": "shout", "offset": 0, "length": 2}],
        )
        == "Bad Request: can't parse MessageEntity: Unsupported type specified"
    )
    entities = [{"type": "bold", "offset": 0, "length": 2}]
    edited = api.result(
        "editMessageText", chat_id=CHAT, message_id=message_id, text="hi", entities=entities
    )
    assert edited["entities"] == entities
    # The same text without its entities is another text.
    assert "entities" not in api.result(
        "editMessageText", chat_id=CHAT, message_id=message_id, text="hi"
    )
    assert telegram.sent[0].entities == []


def test_an_edited_text_over_4096_utf16_units_is_refused(api: Api) -> None:
    message_id = send_text(api)
    assert (
        api.refusal("editMessageText", chat_id=CHAT, message_id=message_id, text="😀" * 2049)
        == "Bad Request: MESSAGE_TOO_LONG"
    )
    assert api.refusal("editMessageText", chat_id=CHAT, message_id=message_id, text=" ") == (
        "Bad Request: message text is empty"
    )
    api.result("editMessageText", chat_id=CHAT, message_id=message_id, text="😀" * 2048)


def test_a_photo_has_no_text_to_edit(api: Api) -> None:
    message_id = send_photo(api)
    assert api.refusal("editMessageText", chat_id=CHAT, message_id=message_id, text="x") == (
        "Bad Request: there is no text in the message to edit"
    )


def test_the_same_text_is_not_modified(api: Api) -> None:
    message_id = send_text(api)
    assert api.refusal("editMessageText", chat_id=CHAT, message_id=message_id, text="hello") == (
        NOT_MODIFIED
    )


# -- what every edit shares --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "params"), EDITS)
def test_an_unknown_or_deleted_message_is_not_found_to_edit(
    api: Api, method: str, params: JSONDict
) -> None:
    message_id = send_photo(api) if method == "editMessageCaption" else send_text(api)
    missing = "Bad Request: message to edit not found"
    assert api.refusal(method, chat_id=CHAT, message_id=message_id + 100, **params) == missing
    assert api.result("deleteMessage", chat_id=CHAT, message_id=message_id) is True
    assert api.refusal(method, chat_id=CHAT, message_id=message_id, **params) == missing
    assert api.refusal(method, chat_id=7, message_id=message_id, **params) == (
        "Bad Request: chat not found"
    )


@pytest.mark.parametrize(("method", "params"), EDITS)
def test_an_edit_must_name_its_message(api: Api, method: str, params: JSONDict) -> None:
    message_id = send_text(api)
    assert api.refusal(method, message_id=message_id, **params) == "Bad Request: chat_id is empty"
    assert api.refusal(method, **params) == "Bad Request: message identifier is not specified"
    assert api.refusal(method, inline_message_id="AgAAAHcAAAAAAAAA", **params) == (
        "Bad Request: invalid inline message identifier specified"
    )
    assert api.refusal(method, chat_id=CHAT, **params) == "Bad Request: message to edit not found"


@pytest.mark.parametrize(("method", "params"), EDITS)
def test_a_users_message_cannot_be_edited(
    api: Api, telegram: FakeTelegram, method: str, params: JSONDict
) -> None:
    said = telegram.user_says(CHAT, "hi bot")
    message_id = said["message"]["message_id"]
    assert api.refusal(method, chat_id=CHAT, message_id=message_id, **params) == (
        "Bad Request: message can't be edited"
    )


# -- deleteMessage -----------------------------------------------------------------------------


def test_a_deleted_message_leaves_sent(api: Api, telegram: FakeTelegram) -> None:
    first, second = send_text(api, "one"), send_text(api, "two")
    telegram.wait_for_sent(chat_id=CHAT, count=2)
    assert api.result("deleteMessage", chat_id=CHAT, message_id=first) is True
    assert [m.text for m in telegram.sent] == ["two"]
    assert telegram.deleted == [(CHAT, first)]
    assert [m.message_id for m in telegram.wait_for_sent(chat_id=CHAT)] == [second]
    with pytest.raises(TimeoutError):
        telegram.wait_for_sent(chat_id=CHAT, count=2, timeout=0.2)


def test_a_message_is_deleted_once(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_photo(api)
    assert api.result("deleteMessage", chat_id=CHAT, message_id=message_id) is True
    missing = "Bad Request: message to delete not found"
    assert api.refusal("deleteMessage", chat_id=CHAT, message_id=message_id) == missing
    assert api.refusal("deleteMessage", chat_id=CHAT, message_id=message_id + 100) == missing
    assert telegram.deleted == [(CHAT, message_id)]


def test_delete_must_name_a_known_chat_and_a_message(api: Api) -> None:
    message_id = send_text(api)
    assert api.refusal("deleteMessage", message_id=message_id) == (
        "Bad Request: chat identifier is not specified"
    )
    assert api.refusal("deleteMessage", chat_id=CHAT) == (
        "Bad Request: message identifier is not specified"
    )
    assert api.refusal("deleteMessage", chat_id=CHAT, message_id=-1) == (
        "Bad Request: message identifier is not specified"
    )
    assert api.refusal("deleteMessage", chat_id=7, message_id=message_id) == (
        "Bad Request: chat not found"
    )


def test_a_private_message_can_be_deleted_for_48_hours(api: Api, telegram: FakeTelegram) -> None:
    young, old = send_text(api, "young"), send_text(api, "old")
    # A minute's margin either side: the clock may tick between the call and the check.
    telegram.age_message(CHAT, young, TWO_DAYS - 60)
    telegram.age_message(CHAT, old, TWO_DAYS + 60)
    assert api.refusal("deleteMessage", chat_id=CHAT, message_id=old) == (
        "Bad Request: message can't be deleted for everyone"
    )
    assert api.result("deleteMessage", chat_id=CHAT, message_id=young) is True
    assert [m.text for m in telegram.sent] == ["old"]
    assert telegram.deleted == [(CHAT, young)]


def test_age_message_moves_the_date_back(api: Api, telegram: FakeTelegram) -> None:
    message_id = send_text(api)
    before = telegram.sent[0]
    telegram.age_message(CHAT, message_id, 3600)
    after = telegram.sent[0]
    assert after.message["date"] == before.message["date"] - 3600
    assert after.at == pytest.approx(before.at - 3600)
    with pytest.raises(ValueError, match="has no message"):
        telegram.age_message(CHAT, message_id + 100, 60)
    with pytest.raises(ValueError, match="older"):
        telegram.age_message(CHAT, message_id, -1)


def test_in_a_supergroup_an_old_message_cannot_be_deleted(api: Api, telegram: FakeTelegram) -> None:
    group = -1001234567890
    telegram.add_chat(group, chat_type="supergroup")
    message_id = send_text(api, chat_id=group)
    telegram.age_message(group, message_id, TWO_DAYS + 60)
    assert api.refusal("deleteMessage", chat_id=group, message_id=message_id) == (
        "Bad Request: message can't be deleted"
    )


def test_a_users_message_is_deleted_only_in_a_private_chat(
    api: Api, telegram: FakeTelegram
) -> None:
    private = telegram.user_says(CHAT, "/start")["message"]["message_id"]
    assert api.result("deleteMessage", chat_id=CHAT, message_id=private) is True
    group_chat = {"id": -5, "type": "group", "title": "Friends"}
    in_group = telegram.user_says(7, "hello all", chat=group_chat)["message"]["message_id"]
    assert api.refusal("deleteMessage", chat_id=-5, message_id=in_group) == (
        "Bad Request: message can't be deleted for everyone"
    )
    supergroup = {"id": -1009, "type": "supergroup", "title": "Many friends"}
    in_supergroup = telegram.user_says(7, "hi", chat=supergroup)["message"]["message_id"]
    assert api.refusal("deleteMessage", chat_id=-1009, message_id=in_supergroup) == (
        "Bad Request: message can't be deleted"
    )
    assert telegram.deleted == [(CHAT, private)]


def test_an_old_users_message_cannot_be_deleted(api: Api, telegram: FakeTelegram) -> None:
    message_id = telegram.user_says(CHAT, "hi")["message"]["message_id"]
    telegram.age_message(CHAT, message_id, TWO_DAYS + 60)
    assert api.refusal("deleteMessage", chat_id=CHAT, message_id=message_id) == (
        "Bad Request: message can't be deleted for everyone"
    )


# -- as python-telegram-bot sees them ----------------------------------------------------------


async def test_python_telegram_bot_edits_and_deletes(tg_bot: Bot, telegram: FakeTelegram) -> None:
    """Form-encoded, as python-telegram-bot posts them, and parsed back into its objects."""
    photo = await tg_bot.send_photo(CHAT, CAT, caption="a cat")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Pet", callback_data="pet")]])
    edited = await tg_bot.edit_message_caption(
        CHAT,
        photo.message_id,
        caption="a happy cat",
        caption_entities=[MessageEntity("bold", 2, 5)],
        reply_markup=markup,
    )
    assert not isinstance(edited, bool)
    assert (edited.caption, edited.reply_markup) == ("a happy cat", markup)
    assert edited.parse_caption_entity(edited.caption_entities[0]) == "happy"
    assert edited.edit_date is not None
    bare = await tg_bot.edit_message_reply_markup(CHAT, photo.message_id)
    assert not isinstance(bare, bool)
    assert bare.reply_markup is None
    assert await tg_bot.delete_message(CHAT, photo.message_id) is True
    assert telegram.sent == []
    assert telegram.deleted == [(CHAT, photo.message_id)]
