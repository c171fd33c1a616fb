"""Inline keyboards (`reply_markup` with `inline_keyboard`) checked the way Telegram checks them.

Descriptions come from the Bot API server (Client.cpp, get_reply_markup and
get_inline_keyboard_button), TDLib (ReplyMarkup.cpp, check_link) and Telegram's own errors
(BUTTON_DATA_INVALID, "reply markup is too long"), except where a comment says it is ours.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import NoReturn

from bot.testing.links import link_problem
from bot.testing.model import ApiError, JSONDict

# The kinds of InlineKeyboardButton, in the order the Bot API server looks for them.
BUTTON_KINDS = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
MAX_BUTTONS = 100  # beyond it Telegram answers REPLY_MARKUP_TOO_LONG
MAX_CALLBACK_DATA_BYTES = 64
_BUTTON = "can't parse inline keyboard button: "


def inline_keyboard(markup: object) -> list[list[JSONDict]]:
    """The rows of the inline keyboard in `markup` as sent, [] when it has none (no markup, a
    reply keyboard, its removal, force_reply), or ApiError 400."""
    if markup is None or markup == "":
        return []
    if isinstance(markup, str):  # form bodies carry it as JSON text; this one did not decode
        _refuse("can't parse reply keyboard markup JSON object")
    if not isinstance(markup, dict):
        _refuse("object expected as reply markup")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return []
    if not isinstance(rows, list):
        _refuse('field "inline_keyboard" must be of type Array')
    checked: list[list[JSONDict]] = []
    for row in rows:
        if not isinstance(row, list):
            _refuse(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        if not row:
            # Ours: TDLib drops an empty row without a word; refusing it shows the bot its bug.
            _refuse("inline keyboard row must be non-empty")
        checked.append([_button(button) for button in row])
    if sum(len(row) for row in checked) > MAX_BUTTONS:
        _refuse("reply markup is too long")
    return checked


def _button(value: object) -> JSONDict:
    if not isinstance(value, dict):
        _refuse(_BUTTON + "InlineKeyboardButton must be an Object")
    text = value.get("text")
    if text is None:
        _refuse(_BUTTON + 'Can\'t find field "text"')
    for field in ("text", "url", "callback_data"):
        if field in value and not isinstance(value[field], str):
            _refuse(_BUTTON + f'Field "{field}" must be of type String')
    # The server reads an empty url or callback_data as absent.
    kinds = [
        kind
        for kind in BUTTON_KINDS
        if kind in value and not (kind in ("url", "callback_data") and value[kind] == "")
    ]
    if not kinds:
        _refuse(_BUTTON + "Text buttons are unallowed in the inline keyboard")
    if len(kinds) > 1:
        # Ours: the docs say exactly one field, the server silently takes the first it finds
        # (a url button whose callback_data never arrives).
        _refuse(_BUTTON + f"exactly one of {', '.join(kinds)} must be used")
    if not text:
        # TDLib's words, though it drops an empty-text button unseen: a bot's bug all the same.
        _refuse("inline keyboard button text must be non-empty")
    if kinds[0] == "url":
        problem = link_problem(value["url"])
        if problem is not None:
            _refuse(f"inline keyboard button URL '{value['url']}' is invalid: {problem}")
    if kinds[0] == "callback_data" and (
        len(value["callback_data"].encode()) > MAX_CALLBACK_DATA_BYTES
    ):
        _refuse("BUTTON_DATA_INVALID")
    return dict(value)


def _refuse(description: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")
