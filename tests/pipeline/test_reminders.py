"""What a reminder shows: the notification as published, and as an edit changes it."""

from __future__ import annotations

import json
import time

from bot.notification.schema import Notification
from bot.pipeline.reminders import _edited_payload, _reminder_payload


def payload_of(**given: object) -> dict[str, object]:
    notification = Notification.model_validate({"user_id": 42, "id": "n-1", **given})
    fields: dict[str, object] = json.loads(_reminder_payload(notification))
    return fields


def edited(original: dict[str, object], **edit: object) -> dict[str, object]:
    change = Notification.model_validate({"op": "edit", "user_id": 42, "id": "n-1", **edit})
    fields: dict[str, object] = json.loads(_edited_payload(json.dumps(original), change))
    return fields


def test_a_reminder_repeats_the_notification_without_when_and_how_often() -> None:
    fields = payload_of(
        message="Server down",
        remind={"every": 600, "times": 3},
        ttl=3600,
        deliver_at=time.time() + 3600,
        priority="high",
    )
    assert fields == {"user_id": 42, "id": "n-1", "message": "Server down", "priority": "high"}


def test_a_new_message_replaces_the_text_and_its_buttons_and_keeps_the_reply_field() -> None:
    original = payload_of(message="Where?", reply={"placeholder": "Door?"}, format="html")
    assert edited(original, message="Where now?") == {
        "user_id": 42,
        "id": "n-1",
        "message": "Where now?",
        "reply": {"placeholder": "Door?"},
    }


def test_buttons_alone_replace_the_buttons_and_close_the_reply_field() -> None:
    original = payload_of(message="Where?", reply=True)
    fields = edited(original, buttons=[[{"text": "Door", "action": "door"}]])
    assert fields["message"] == "Where?"
    assert fields["buttons"] == [[{"text": "Door", "action": "door"}]]
    assert "reply" not in fields  # Telegram shows no reply field beside buttons
    Notification.model_validate(fields)  # what the next reminder parses is valid


def test_no_buttons_removes_them() -> None:
    original = payload_of(message="Pick", buttons=[[{"text": "A", "action": "a"}]])
    assert "buttons" not in edited(original, buttons=[])
