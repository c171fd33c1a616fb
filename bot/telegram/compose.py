"""A notification as the Bot API calls that show it: sendMessage for text (cut into parts past
4,096 UTF-16 units), sendPhoto/sendDocument for media with the message as caption, the flags on
every call and the buttons on the last one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.formatting.entities import Formatted
from bot.formatting.split import MAX_CAPTION_UTF16, MAX_UTF16, split_formatted
from bot.notification import Notification
from bot.store.actions import callback_data

MEDIA_METHODS = {"photo": "sendPhoto", "document": "sendDocument"}
NO_PREVIEW = {"is_disabled": True}


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API call for a chat; the chat_id is added when it is sent."""

    method: str
    params: dict[str, Any]


def compose(notification: Notification, action_key: str | None = None) -> list[Call]:
    """The calls that show `notification`, in order. `action_key` is the key its action
    buttons report taps under (see bot.store.actions); needed only when it has any."""
    formatted = notification.formatted
    flags = _flags(notification)
    calls: list[Call] = []
    media = notification.media
    if media is not None:
        kind, reference = media
        call = {kind: reference, **flags}
        if _fits(formatted, MAX_CAPTION_UTF16):
            call["caption"] = formatted.text
            if formatted.entities:
                call["caption_entities"] = formatted.entities_json()
            formatted = Formatted("")
        calls.append(Call(MEDIA_METHODS[kind], call))
    if formatted.text:
        if not notification.preview:
            flags["link_preview_options"] = NO_PREVIEW
        parts = [formatted] if _fits(formatted, MAX_UTF16) else split_formatted(formatted)
        for part in parts:
            params = {"text": part.text, **flags}
            if part.entities:
                params["entities"] = part.entities_json()
            calls.append(Call("sendMessage", params))
    if notification.buttons:
        calls[-1].params["reply_markup"] = _keyboard(notification, action_key)
    return calls


def _flags(notification: Notification) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if notification.silent:
        flags["disable_notification"] = True
    if notification.protect:
        flags["protect_content"] = True
    if notification.thread_id is not None:
        flags["message_thread_id"] = notification.thread_id
    return flags


def _fits(formatted: Formatted, limit: int) -> bool:
    # A character is at most 2 UTF-16 units: most texts fit without being measured.
    text = formatted.text
    return len(text) <= limit // 2 or len(text.encode("utf-16-le")) // 2 <= limit


def _keyboard(notification: Notification, action_key: str | None) -> dict[str, Any]:
    rows: list[list[dict[str, str]]] = []
    index = 0
    for row in notification.buttons or []:
        buttons = []
        for button in row:
            if button.url is not None:
                buttons.append({"text": button.text, "url": button.url})
                continue
            if action_key is None:
                raise ValueError("a notification with action buttons needs an action key")
            buttons.append({"text": button.text, "callback_data": callback_data(action_key, index)})
            index += 1
        rows.append(buttons)
    return {"inline_keyboard": rows}
