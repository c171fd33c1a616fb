"""A notification as Bot API calls: what each field turns into, and where long text and
captions are cut."""

from __future__ import annotations

from typing import Any

import pytest

from bot.formatting.entities import utf16_len
from bot.notification.parsing import Parsed, parse_fields
from bot.telegram.compose import compose


def note(message: str = "hi", **fields: Any) -> Parsed:
    return parse_fields({"user_id": 1, "message": message, **fields})


def test_a_plain_notification_is_one_sendmessage_with_only_its_text() -> None:
    [call] = compose(note("<b>as is</b>"))
    assert (call.method, call.params) == ("sendMessage", {"text": "<b>as is</b>"})


def test_flags_become_telegrams_parameters() -> None:
    [call] = compose(note(silent=True, protect=True, preview=False, thread_id=7))
    assert call.params == {
        "text": "hi",
        "disable_notification": True,
        "protect_content": True,
        "message_thread_id": 7,
        "link_preview_options": {"is_disabled": True},
    }


def test_html_is_sent_as_entities_never_as_parse_mode() -> None:
    [call] = compose(note("<b>Order</b> 😀 <i>x</i>", format="html"))
    assert call.params == {
        "text": "Order 😀 x",
        "entities": [
            {"type": "bold", "offset": 0, "length": 5},
            {"type": "italic", "offset": 9, "length": 1},
        ],
    }


def test_buttons_carry_urls_and_keys_never_the_action() -> None:
    [call] = compose(
        note(
            buttons=[
                [{"text": "Track", "url": "https://shop.example/t/17"}],
                [{"text": "Got it", "action": "order-17:received"}, {"text": "No", "action": "x"}],
            ]
        ),
        action_key="k3y",
    )
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Track", "url": "https://shop.example/t/17"}],
            [
                {"text": "Got it", "callback_data": "a:k3y:0"},
                {"text": "No", "callback_data": "a:k3y:1"},
            ],
        ]
    }


def test_action_buttons_without_a_key_are_a_bug_not_a_send() -> None:
    with pytest.raises(ValueError, match="action key"):
        compose(note(buttons=[[{"text": "Go", "action": "go"}]]))


def test_a_long_message_is_cut_with_entities_and_buttons_on_the_last_part() -> None:
    message = "<b>" + "word " * 1000 + "</b>" + "tail " * 100  # bold: 5,000 characters
    calls = compose(
        note(message, format="html", buttons=[[{"text": "Open", "url": "https://e.com"}]])
    )
    assert [c.method for c in calls] == ["sendMessage", "sendMessage"]
    first, second = (c.params["text"] for c in calls)
    assert all(utf16_len(text) <= 4096 for text in (first, second))
    assert calls[0].params["entities"] == [{"type": "bold", "offset": 0, "length": len(first)}]
    # The bold goes on in the second part for what is left of its 5,000 (a space dropped).
    rest = 5000 - len(first) - 1
    assert calls[1].params["entities"] == [{"type": "bold", "offset": 0, "length": rest}]
    assert "reply_markup" not in calls[0].params
    assert "reply_markup" in calls[1].params


def test_a_photo_carries_the_message_as_its_caption() -> None:
    [call] = compose(
        note(
            "<b>Invoice</b>",
            format="html",
            photo="https://shop.example/p/17.jpg",
            silent=True,
            preview=False,
            buttons=[[{"text": "Pay", "url": "https://e.com/pay"}]],
        )
    )
    assert call.method == "sendPhoto"
    assert call.params == {
        "photo": "https://shop.example/p/17.jpg",
        "disable_notification": True,
        "caption": "Invoice",
        "caption_entities": [{"type": "bold", "offset": 0, "length": 7}],
        "reply_markup": {"inline_keyboard": [[{"text": "Pay", "url": "https://e.com/pay"}]]},
    }


def test_a_caption_over_1024_units_goes_as_the_media_then_the_text() -> None:
    message = "😀" * 513  # 1,026 UTF-16 units: one character too many for a caption
    calls = compose(
        note(
            message,
            document="https://e.com/invoice.pdf",
            protect=True,
            buttons=[[{"text": "Open", "url": "https://e.com"}]],
        )
    )
    assert [c.method for c in calls] == ["sendDocument", "sendMessage"]
    assert calls[0].params == {"document": "https://e.com/invoice.pdf", "protect_content": True}
    assert calls[1].params["text"] == message
    assert calls[1].params["protect_content"] is True
    assert "reply_markup" in calls[1].params


def test_a_caption_of_exactly_1024_units_stays_a_caption() -> None:
    [call] = compose(note("😀" * 512, photo="https://e.com/p.jpg"))
    assert call.params["caption"] == "😀" * 512
