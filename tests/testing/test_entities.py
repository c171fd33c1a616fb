"""The emulator checks `entities` as Telegram does: types, fields, and offsets and lengths in
UTF-16 code units of the text (offsets worked out by hand below)."""

from __future__ import annotations

import pytest

from bot.testing import FakeTelegram
from tests.testing.api import Api

CHAT = 42


@pytest.fixture(autouse=True)
def _chat(telegram: FakeTelegram) -> None:
    telegram.add_chat(CHAT)


def bold(offset: int, length: int) -> dict[str, object]:
    return {"type": "bold", "offset": offset, "length": length}


def test_entities_come_back_in_the_message_as_sent(api: Api, telegram: FakeTelegram) -> None:
    entities = [
        bold(0, 5),
        {"type": "text_link", "offset": 6, "length": 4, "url": "https://example.com/a"},
        {"type": "pre", "offset": 11, "length": 3, "language": "python"},
    ]
    message = api.result("sendMessage", chat_id=CHAT, text="Hello link pre", entities=entities)
    assert message["entities"] == entities
    assert telegram.sent[-1].entities == entities
    assert telegram.sent[-1].method == "sendMessage"


def test_an_entity_beyond_the_end_of_the_text_is_refused(api: Api, telegram: FakeTelegram) -> None:
    text = "hello"  # 5 units
    assert api.refusal("sendMessage", chat_id=CHAT, text=text, entities=[bold(0, 6)]) == (
        "Bad Request: entity beginning at UTF-16 offset 0 ends after the end of the text at "
        "UTF-16 offset 6"
    )
    assert api.refusal("sendMessage", chat_id=CHAT, text=text, entities=[bold(6, 1)]) == (
        "Bad Request: entity begins after the end of the text at UTF-16 offset 6"
    )
    api.result("sendMessage", chat_id=CHAT, text=text, entities=[bold(0, 5)])
    assert [m.text for m in telegram.sent] == ["hello"]


def test_an_emoji_outside_the_bmp_counts_two_utf16_units(api: Api) -> None:
    text = "😀 hi"  # U+1F600 is a surrogate pair: units 0-1, then " hi" at 2-4; 5 units
    api.result("sendMessage", chat_id=CHAT, text=text, entities=[bold(0, 2), bold(3, 2)])
    assert "offset 6" in api.refusal("sendMessage", chat_id=CHAT, text=text, entities=[bold(0, 6)])
    # Half a surrogate pair: TDLib reports the UTF-8 byte offset of the next character (4).
    assert api.refusal("sendMessage", chat_id=CHAT, text=text, entities=[bold(0, 1)]) == (
        "Bad Request: entity beginning at UTF-16 offset 0 ends in a middle of a UTF-16 symbol "
        "at byte offset 4"
    )
    assert api.refusal("sendMessage", chat_id=CHAT, text=text, entities=[bold(1, 2)]) == (
        "Bad Request: entity begins in a middle of a UTF-16 symbol at byte offset 4"
    )


@pytest.mark.parametrize(
    ("entity", "description"),
    [
        (
            {"type": "blink", "offset": 0, "length": 1},
            "Bad Request: can't parse MessageEntity: Unsupported type specified",
        ),
        (bold(-1, 1), "Bad Request: receive an entity with incorrect offset -1"),
        (bold(0, -2), "Bad Request: receive an entity with incorrect length -2"),
        (
            {"type": "bold", "offset": 0},
            "Bad Request: can't parse MessageEntity: Can't find field \"length\"",
        ),
        (
            {"type": "bold", "offset": "one", "length": 1},
            'Bad Request: can\'t parse MessageEntity: Field "offset" must be a valid Number',
        ),
        (
            {"type": "pre", "offset": 0, "length": 1, "language": 3},
            'Bad Request: can\'t parse MessageEntity: Field "language" must be of type String',
        ),
        (
            {"type": "text_link", "offset": 0, "length": 1},
            "Bad Request: can't parse MessageEntity: Can't find field \"url\"",
        ),
        (
            {"type": "text_link", "offset": 0, "length": 1, "url": "ftp://files.example.com"},
            "Bad Request: entity URL 'ftp://files.example.com' is invalid: "
            "Unsupported URL protocol",
        ),
        (
            {"type": "text_link", "offset": 0, "length": 1, "url": "http://localhost"},
            "Bad Request: entity URL 'http://localhost' is invalid: Wrong HTTP URL",
        ),
        ("bold", "Bad Request: can't parse MessageEntity: expected an Object"),
    ],
)
def test_malformed_entities_are_refused(api: Api, entity: object, description: str) -> None:
    assert api.refusal("sendMessage", chat_id=CHAT, text="hello", entities=[entity]) == (
        description
    )


def test_a_text_link_may_point_to_http_https_or_tg(api: Api) -> None:
    for url in ("http://example.com", "https://example.com/x?y=1", "tg://resolve?domain=x"):
        link = {"type": "text_link", "offset": 0, "length": 5, "url": url}
        api.result("sendMessage", chat_id=CHAT, text="hello", entities=[link])


def test_an_empty_entity_is_dropped_not_refused(api: Api) -> None:
    message = api.result("sendMessage", chat_id=CHAT, text="hello", entities=[bold(2, 0)])
    assert "entities" not in message


def test_a_parse_mode_wins_over_entities(api: Api, telegram: FakeTelegram) -> None:
    """The Bot API server parses the text and never reads `entities` when a parse_mode is set
    (telegram-bot-api, Client::get_formatted_text), so even broken ones pass unseen."""
    message = api.result(
        "sendMessage",
        chat_id=CHAT,
        text="<b>hi</b>",
        parse_mode="HTML",
        entities=[bold(0, 99)],
    )
    assert message["text"] == "hi"
    assert "entities" not in message
    assert telegram.sent[-1].entities == []
