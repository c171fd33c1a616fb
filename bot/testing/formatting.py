"""What a chat shows for a message: text and captions checked the way Telegram checks them
(empty, too long, HTML entities for parse_mode=HTML), measured in UTF-16 code units."""

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
    """What the chat shows: the text after entity parsing, checked the way Telegram checks it."""
    text = params.get("text")
    if isinstance(text, str):
        text = _parsed(text, params)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message text is empty")
    if utf16_len(text) > MAX_TEXT_UTF16:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message is too long")
    return text


def visible_caption(params: JSONDict) -> str:
    """The caption of a photo or document as the chat shows it, "" when there is none."""
    caption = params.get("caption")
    return "" if caption is None else _parsed(str(caption), params)


def check_caption(caption: str) -> None:
    """Telegram refuses a caption over 1024 characters (checked once the chat is known)."""
    if utf16_len(caption) > MAX_CAPTION_UTF16:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message caption is too long")


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
