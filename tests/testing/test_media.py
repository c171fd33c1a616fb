"""sendPhoto and sendDocument by URL or file_id: which files Telegram takes, captions, and the
checks every send method shares (chat, blocked user, flood limits)."""

from __future__ import annotations

import pytest
from telegram import Bot, MessageEntity
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.testing import FakeTelegram, FloodLimits, SentMessage
from tests.testing.api import Api

CHAT = 42
CAT = "https://example.com/pictures/cat.jpg"
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"


@pytest.fixture(autouse=True)
def _chat(telegram: FakeTelegram) -> None:
    telegram.add_chat(CHAT)


async def test_python_telegram_bot_reads_a_photo_with_its_caption(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    message = await tg_bot.send_photo(
        CHAT, CAT, caption="Cat 😀 here", caption_entities=[MessageEntity("bold", 4, 2)]
    )
    assert [(size.width, size.height) for size in message.photo] == [
        (90, 67),
        (320, 240),
        (800, 600),
    ]
    assert all(size.file_id and size.file_unique_id for size in message.photo)
    assert message.caption == "Cat 😀 here"
    assert message.caption_entities == (MessageEntity("bold", 4, 2),)
    assert message.parse_caption_entity(message.caption_entities[0]) == "😀"
    sent = telegram.sent[-1]
    assert (sent.method, sent.text, sent.media) == ("sendPhoto", "Cat 😀 here", CAT)
    assert sent.entities == [{"type": "bold", "offset": 4, "length": 2}]


async def test_a_file_id_from_an_earlier_send_is_accepted_again(tg_bot: Bot) -> None:
    first = await tg_bot.send_photo(CHAT, CAT)
    again = await tg_bot.send_photo(CHAT, first.photo[0].file_id)
    assert again.photo == first.photo
    document = await tg_bot.send_document(CHAT, "https://example.com/files/report%202024.pdf")
    assert document.document is not None
    assert (document.document.file_name, document.document.mime_type) == (
        "report 2024.pdf",
        "application/pdf",
    )
    resent = await tg_bot.send_document(CHAT, document.document.file_id, caption="again")
    assert resent.document == document.document
    assert resent.caption == "again"


def test_an_unknown_file_id_is_refused_until_added(api: Api, telegram: FakeTelegram) -> None:
    file_id = "AgACAgIAAxkBAAIBY2ZmUnknown"
    assert api.refusal("sendPhoto", chat_id=CHAT, photo=file_id) == WRONG_FILE
    telegram.add_file(file_id, kind="photo")
    message = api.result("sendPhoto", chat_id=CHAT, photo=file_id)
    assert message["photo"][0]["file_id"] == file_id
    assert telegram.sent[-1].media == file_id


def test_a_file_is_used_only_as_its_kind(api: Api, telegram: FakeTelegram) -> None:
    photo_id = api.result("sendPhoto", chat_id=CHAT, photo=CAT)["photo"][-1]["file_id"]
    assert api.refusal("sendDocument", chat_id=CHAT, document=photo_id) == (
        "Bad Request: can't use file of type Photo as Document"
    )
    telegram.add_file("BQACAgIAAxkBAAIDoc", kind="document")
    assert api.refusal("sendPhoto", chat_id=CHAT, photo="BQACAgIAAxkBAAIDoc") == (
        "Bad Request: can't use file of type Document as Photo"
    )


def test_a_refused_media_url_answers_400(api: Api, telegram: FakeTelegram) -> None:
    telegram.refuse_media(CAT)
    assert api.refusal("sendPhoto", chat_id=CHAT, photo=CAT) == WRONG_FILE
    assert api.refusal("sendDocument", chat_id=CHAT, document=CAT) == WRONG_FILE
    api.result("sendPhoto", chat_id=CHAT, photo="https://example.com/pictures/dog.jpg")
    assert [m.media for m in telegram.sent] == ["https://example.com/pictures/dog.jpg"]


def test_only_http_urls_and_file_ids_are_media(api: Api) -> None:
    assert api.refusal("sendPhoto", chat_id=CHAT, photo="ftp://example.com/cat.jpg") == (
        "Bad Request: invalid file HTTP URL specified: Unsupported URL protocol"
    )
    assert api.refusal("sendPhoto", chat_id=CHAT) == "Bad Request: there is no photo in the request"
    assert api.refusal("sendDocument", chat_id=CHAT, document="attach://report") == (
        "Bad Request: there is no document in the request"
    )


def test_a_caption_over_1024_utf16_units_is_refused(api: Api, telegram: FakeTelegram) -> None:
    api.result("sendPhoto", chat_id=CHAT, photo=CAT, caption="😀" * 512)  # 1024 units
    assert api.refusal("sendPhoto", chat_id=CHAT, photo=CAT, caption="😀" * 513) == (
        "Bad Request: message caption is too long"
    )
    assert [len(m.text) for m in telegram.sent] == [512]


def test_caption_entities_are_checked_against_the_caption(api: Api) -> None:
    entities = [{"type": "bold", "offset": 0, "length": 4}]
    assert "ends after the end of the text" in api.refusal(
        "sendPhoto", chat_id=CHAT, photo=CAT, caption="cat", caption_entities=entities
    )
    message = api.result(
        "sendDocument", chat_id=CHAT, document=CAT, caption="cats", caption_entities=entities
    )
    assert message["caption_entities"] == entities


async def test_media_get_the_chat_blocked_and_flood_checks(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await tg_bot.send_photo(7, CAT)
    telegram.set_limits(FloodLimits(chat_burst=1, chat_period=60))
    await tg_bot.send_photo(CHAT, CAT)
    with pytest.raises(RetryAfter):
        await tg_bot.send_document(CHAT, CAT)
    telegram.set_limits(None)
    telegram.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await tg_bot.send_photo(CHAT, CAT)
    assert [m.method for m in telegram.sent] == ["sendPhoto"]


def test_wait_for_sent_and_on_sent_see_media(api: Api, telegram: FakeTelegram) -> None:
    seen: list[SentMessage] = []
    telegram.on_sent = seen.append
    api.result("sendDocument", chat_id=CHAT, document=CAT, caption="a cat")
    [found] = telegram.wait_for_sent(lambda m: m.method == "sendDocument", chat_id=CHAT)
    assert found.text == "a cat"
    assert seen == [found]
