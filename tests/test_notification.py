"""Parsing raw pub/sub payloads into notifications, and the reasons given for bad ones."""

from __future__ import annotations

import pytest

from bot.notification import PREVIEW_CHARS, InvalidNotification, Notification, parse_notification


def test_a_valid_payload_parses_from_bytes_or_text() -> None:
    expected = Notification(user_id=42, message="Your order is on its way!")
    raw = '{"user_id": 42, "message": "Your order is on its way!"}'
    assert parse_notification(raw) == expected
    assert parse_notification(raw.encode()) == expected


def test_unknown_fields_are_ignored() -> None:
    parsed = parse_notification('{"user_id": 1, "message": "hi", "future_field": [1, 2]}')
    assert parsed == Notification(user_id=1, message="hi")


def test_unicode_and_markup_are_kept_verbatim() -> None:
    text = "Привет 👋 <b>bold?</b> *no*"
    assert parse_notification(f'{{"user_id": 1, "message": "{text}"}}').message == text


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
