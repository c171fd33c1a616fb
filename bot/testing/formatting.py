"""What a chat shows for a message: text and captions checked the way Telegram checks them
(empty, too long, HTML entities for parse_mode=HTML), measured in UTF-16 code units, and the
link preview options of a text."""

from __future__ import annotations

from html.parser import HTMLParser
from http import HTTPStatus

from bot.testing.model import ApiError, JSONDict

MAX_TEXT_UTF16 = 4096
# TDLib counts a bot's caption (and text) in code points; Telegram's servers do not say how they
# count. UTF-16 code units are never fewer, so what passes here passes there.
MAX_CAPTION_UTF16 = 1024


HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}


class _HTMLText(HTMLParser):
    """The text a chat shows for parse_mode=HTML, refusing tags Telegram does not support."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"',
            )

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(params: JSONDict) -> str:
    """What the chat shows: the text after entity parsing, checked the way sendMessage checks it."""
    text = parsed_text(params)
    check_length(text, MAX_TEXT_UTF16, "Bad Request: message is too long")
    return text


def parsed_text(params: JSONDict) -> str:
    """The text after entity parsing, refused when empty; its length is left to the caller, as
    an edit's is checked later than a new message's and in other words."""
    text = params.get("text")
    if isinstance(text, str):
        text = _parsed(text, params)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message text is empty")
    return text


def visible_caption(params: JSONDict) -> str:
    """The caption of a photo or document as the chat shows it, "" when there is none."""
    caption = params.get("caption")
    return "" if caption is None else _parsed(str(caption), params)


def check_caption(caption: str) -> None:
    """Telegram refuses a caption over 1024 characters (checked once the chat is known)."""
    check_length(caption, MAX_CAPTION_UTF16, "Bad Request: message caption is too long")


def check_length(text: str, limit: int, description: str) -> None:
    """A 400 with `description` when `text` is over `limit` UTF-16 code units."""
    if utf16_len(text) > limit:
        raise ApiError(HTTPStatus.BAD_REQUEST, description)


def link_preview_options(params: JSONDict) -> JSONDict | None:
    """The LinkPreviewOptions object, or the Bot API server's 400 for anything else."""
    value = params.get("link_preview_options")
    if value is None or value == "":
        return None
    if isinstance(value, str):  # form bodies carry it as JSON text; this one did not decode
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "Bad Request: can't parse link preview options JSON object"
        )
    if not isinstance(value, dict):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "Bad Request: object expected as link preview options"
        )
    return value


def _parsed(text: str, params: JSONDict) -> str:
    """`text` without its markup when parse_mode is HTML (refusing unsupported tags)."""
    if str(params.get("parse_mode", "")).upper() != "HTML":
        return text
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2
