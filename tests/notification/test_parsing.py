"""Parsing raw pub/sub payloads into notifications, and the reasons given for bad ones."""

from __future__ import annotations

import json

import pytest

from bot.formatting.entities import Formatted
from bot.notification.parsing import (
    PREVIEW_CHARS,
    InvalidNotification,
    parse_fields,
    parse_notification,
)
from bot.notification.schema import Notification
from tests.helpers import BAD_RICH_FIELDS


def test_a_valid_payload_parses_from_bytes_or_text() -> None:
    expected = Notification(user_id=42, message="Your order is on its way!")
    raw = '{"user_id": 42, "message": "Your order is on its way!"}'
    assert parse_notification(raw).notification == expected
    assert parse_notification(raw.encode()).notification == expected


def test_unknown_fields_are_ignored() -> None:
    parsed = parse_notification('{"user_id": 1, "message": "hi", "future_field": [1, 2]}')
    assert parsed.notification == Notification(user_id=1, message="hi")


def test_unicode_and_markup_are_kept_verbatim() -> None:
    text = "Привет 👋 <b>bold?</b> *no*"
    assert parse_notification(f'{{"user_id": 1, "message": "{text}"}}').notification.message == text


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"hello", "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"text"', "expected a JSON object, got a string"),
        ("null", "expected a JSON object, got null"),
        ("42", "expected a JSON object, got a number"),
        ('{"message": "hi"}', "user_id: field required"),
        ('{"user_id": 1}', "message: field required"),
        ('{"user_id": "42", "message": "hi"}', "user_id: input should be a valid integer"),
        ('{"user_id": true, "message": "hi"}', "user_id: input should be a valid integer"),
        ('{"user_id": 4.5, "message": "hi"}', "user_id: input should be a valid integer"),
        ('{"user_id": 1, "message": 7}', "message: input should be a valid string"),
        ('{"user_id": 1, "message": ""}', "message: must not be empty"),
        ('{"user_id": 1, "message": " \\n\\t "}', "message: must not be empty"),
    ],
)
def test_bad_payloads_name_what_is_wrong(payload: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidNotification) as caught:
        parse_notification(payload)
    assert caught.value.reason.startswith(reason)
    assert "\n" not in caught.value.reason


def test_the_preview_of_a_huge_bad_payload_is_truncated() -> None:
    with pytest.raises(InvalidNotification) as caught:
        parse_notification("x" * 10_000)
    assert caught.value.preview == "x" * PREVIEW_CHARS + "…"


NESTED = '{"user_id": 42, "message": "hi", "meta": ' + "[" * 1000 + "]" * 1000 + "}"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (NESTED, "not valid JSON (nested too deeply)"),
        ('{"user_id": ' + "1" * 5000 + ', "message": "x"}', "Exceeds the limit (4300 digits)"),
        ('{"user_id": 42, "message": "a \\ud800 b"}', "message: contains a lone surrogate"),
        ('{"user_id": 42, "message": "x", "id": "\\udc00"}', "id: "),
        (b'{"user_id": 42, "message": "\xff"}', "not valid JSON ('utf-8' codec"),
        ('{"user_id": 99999999999999999999, "message": "x"}', "user_id: input should be less"),
    ],
)
def test_hostile_payloads_are_invalid_with_a_one_line_reason(
    payload: str | bytes, reason: str
) -> None:
    """Each of these used to raise something other than InvalidNotification (a crash, or a
    failure later at send time)."""
    with pytest.raises(InvalidNotification) as caught:
        parse_notification(payload)
    assert reason in caught.value.reason
    assert "\n" not in caught.value.reason
    assert "set_int_max_str_digits" not in caught.value.reason


def test_a_message_over_the_limit_is_invalid_and_says_the_setting() -> None:
    payload = json.dumps({"user_id": 1, "message": "a" * 101})
    with pytest.raises(InvalidNotification) as caught:
        parse_notification(payload, max_chars=100)
    assert caught.value.reason == (
        "message: 101 characters, over the limit of 100 (MESSAGE_MAX_CHARS)"
    )
    assert parse_notification(payload, max_chars=101).notification.message == "a" * 101


def test_a_payload_too_large_for_any_valid_message_is_refused_unparsed() -> None:
    payload = json.dumps({"user_id": 1, "message": "a" * 100}) + " " * 100_000
    with pytest.raises(InvalidNotification, match="over the 66736 a message of MESSAGE_MAX"):
        parse_notification(payload, max_chars=100)


def rich(**fields: object) -> str:
    return json.dumps({"user_id": 1, "message": "hi", **fields})


@pytest.mark.parametrize(("fields", "reason"), BAD_RICH_FIELDS)
def test_bad_rich_fields_are_invalid_with_a_one_line_reason(
    fields: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidNotification) as refused:
        parse_notification(rich(**fields))
    assert refused.value.reason.startswith(reason)
    assert "\n" not in refused.value.reason


def test_a_plain_notification_is_text_with_no_entities_and_nothing_parsed() -> None:
    parsed = parse_notification(rich(message=" <b>*as is*</b> "))
    assert parsed.formatted.text == " <b>*as is*</b> "
    assert parsed.formatted.entities == ()


def test_html_and_markdown_are_converted_once_when_parsed() -> None:
    html = parse_notification(rich(format="html", message="<b>Order</b> shipped"))
    markdown = parse_notification(rich(format="markdown", message="**Order** shipped"))
    assert html.formatted == markdown.formatted
    assert html.formatted.text == "Order shipped"
    assert [e.to_json() for e in html.formatted.entities] == [
        {"type": "bold", "offset": 0, "length": 5}
    ]


def test_markdown_that_grows_past_the_limit_as_it_is_read_is_refused() -> None:
    """Nested lists indent every lazy line: within MESSAGE_MAX_CHARS as written, 327 K
    characters once read (81 messages to every chat). The limit holds for what the chat gets."""
    items = [f"{'  ' * (n % 9)}- item {n}\n" + "\n".join(["lazy"] * 8) for n in range(300)]
    source = "\n".join(items)
    payload = json.dumps({"user_id": 1, "format": "markdown", "message": source})
    assert len(source) < 20_000
    with pytest.raises(InvalidNotification, match="once the markdown is read, over the limit"):
        parse_notification(payload, max_chars=20_000)
    assert parse_notification(payload, max_chars=50_000).formatted.text.count("•") == 300


def test_fields_are_refused_for_what_a_payload_is_refused_for() -> None:
    """What the publisher checks before it writes: a ValueError with the reason the bot's
    parse of the payload would give."""
    fields = {"user_id": 1, "message": "<b>Order", "format": "html"}
    with pytest.raises(ValueError, match=r"^message: unclosed <b> at character 1$"):
        parse_fields(fields)
    with pytest.raises(InvalidNotification) as refused:
        parse_notification(json.dumps(fields))
    assert refused.value.reason == "message: unclosed <b> at character 1"


def test_a_copy_for_another_recipient_keeps_the_message_as_read() -> None:
    """A fan-out reads its message once and copies it for each recipient."""
    template = parse_notification(
        rich(user_id=None, user_ids=[1, 2], message="**Sale**", format="markdown")
    )
    copy = template.copy_with(user_id=2, user_ids=None, silent=True)
    assert (copy.notification.user_id, copy.notification.user_ids) == (2, None)
    assert copy.notification.silent
    assert copy.formatted is template.formatted  # read once, not for each recipient
    assert copy.formatted.text == "Sale"
    with pytest.raises(ValueError, match="parsed anew"):
        template.copy_with(message="other")


def test_an_edit_of_its_buttons_alone_shows_no_text() -> None:
    edit = parse_notification(json.dumps({"op": "edit", "id": "o-17", "user_id": 1, "buttons": []}))
    assert edit.formatted == Formatted("")
