"""`reply_markup` read and checked the way Telegram does: inline keyboards and ForceReply.

Descriptions come from the Bot API server (Client.cpp, get_reply_markup and
get_inline_keyboard_button), TDLib (ReplyMarkup.cpp, check_link) and Telegram's own errors
(BUTTON_DATA_INVALID, "reply markup is too long"), except where a comment says it is ours.
Reply keyboards (`keyboard`) and their removal are read as no markup: not emulated.
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from typing import NoReturn

from bot.testing.formatting import utf16_len
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
MAX_PLACEHOLDER = 64  # input_field_placeholder: "1-64 characters" (counted here in UTF-16 units)
_BUTTON = "can't parse inline keyboard button: "


@dataclasses.dataclass(frozen=True)
class Markup:
    """What a `reply_markup` asks for: an inline keyboard's rows, or a ForceReply."""

    buttons: list[list[JSONDict]] = dataclasses.field(default_factory=list)
    force_reply: bool = False
    placeholder: str | None = None  # the ForceReply's input_field_placeholder
    selective: bool = False


def reply_markup(markup: object) -> Markup:
    """The `reply_markup` of a send, as the Bot API server's get_reply_markup reads it, or
    ApiError 400. Every flag is type-checked; then an inline keyboard wins over a ForceReply,
    and `"force_reply": false` asks for nothing."""
    if markup is None or markup == "":
        return Markup()
    if isinstance(markup, str):  # form bodies carry it as JSON text; this one did not decode
        _refuse("can't parse reply keyboard markup JSON object")
    if not isinstance(markup, dict):
        _refuse("object expected as reply markup")
    buttons = _inline_rows(markup)
    for flag in ("selective", "force_reply"):
        if flag in markup and not isinstance(markup[flag], bool):
            _refuse(f'field "{flag}" must be of type Boolean')
    placeholder = markup.get("input_field_placeholder")
    if placeholder is not None and not isinstance(placeholder, str):
        _refuse('field "input_field_placeholder" must be of type String')
    if buttons or not markup.get("force_reply"):
        return Markup(buttons)
    # TDLib sends an empty placeholder as none at all (no HAS_PLACEHOLDER flag).
    if placeholder is not None and utf16_len(placeholder) > MAX_PLACEHOLDER:
        # Ours: TDLib passes the placeholder on unchecked and Telegram's reply to a longer one is
        # not documented; the docs say 1-64 characters, so a longer one is the bot's bug.
        _refuse(f"input field placeholder must be at most {MAX_PLACEHOLDER} characters")
    return Markup(
        force_reply=True,
        placeholder=placeholder or None,
        selective=bool(markup.get("selective")),
    )


def inline_keyboard(markup: object) -> list[list[JSONDict]]:
    """The rows of the inline keyboard in `markup` as sent, [] when it has none (no markup, a
    reply keyboard, its removal, force_reply), or ApiError 400."""
    return reply_markup(markup).buttons


def _inline_rows(markup: JSONDict) -> list[list[JSONDict]]:
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
