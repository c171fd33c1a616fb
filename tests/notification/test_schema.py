"""The notification's model: what its fields take and what it tells of itself."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.notification.schema import Notification
from tests.helpers import EXAMPLE_BUTTON


def note(**fields: Any) -> Notification:
    return Notification.model_validate({"user_id": 1, "message": "hi", **fields})


def test_media_takes_an_https_url_or_a_file_id() -> None:
    by_url = note(photo="https://shop.example/p/17.jpg")
    by_id = note(document="BQACAgIAAxkBAAIBZ2Xj9-file_id_example")
    assert by_url.media == ("photo", "https://shop.example/p/17.jpg")
    assert by_id.media == ("document", "BQACAgIAAxkBAAIBZ2Xj9-file_id_example")
    with pytest.raises(ValidationError, match="must be an https URL or a Telegram file_id"):
        note(photo="http://shop.example/p/17.jpg")


def test_action_buttons_are_listed_in_reading_order() -> None:
    notification = note(
        buttons=[
            [{"text": "A", "action": "first"}, EXAMPLE_BUTTON],
            [{"text": "B", "action": "second"}],
        ]
    )
    assert notification.actions == ["first", "second"]
