"""Formatted text as Telegram takes it: plain text plus MessageEntity values whose offsets and
lengths count UTF-16 code units, as the Bot API counts them."""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# The entity types a notification can produce (Bot API: MessageEntity).
BOLD, ITALIC, UNDERLINE, STRIKETHROUGH, SPOILER = (
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
)
CODE, PRE, TEXT_LINK = "code", "pre", "text_link"
BLOCKQUOTE, EXPANDABLE_BLOCKQUOTE = "blockquote", "expandable_blockquote"

# Schemes a link in a message or on a button may use: a web page or a Telegram link. Anything
# else (javascript:, data:, file:) is refused when the notification is parsed.
LINK_SCHEMES = ("http", "https", "tg")
_WHITESPACE = re.compile(r"\s")
_TG_END = re.compile(r"[/?#]")
_TG_NAME = re.compile(r"[A-Za-z0-9_-]+")
# tg:// links Telegram's apps act on at a tap: set a proxy for all of Telegram, log in to a
# site. A notification that passes on a web app's data must never carry them.
TG_REFUSED = frozenset({"proxy", "socks", "login"})
TELEGRAM_LINK_HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})  # its https links
MAX_PORT = 65535


class Entity(NamedTuple):
    """One MessageEntity: `offset` and `length` in UTF-16 code units of the text as sent. A
    tuple: made by the thousand in a burst, and cheap to make and to collect."""

    type: str
    offset: int
    length: int
    url: str | None = None  # text_link
    language: str | None = None  # pre

    def to_json(self) -> dict[str, Any]:
        entity: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            entity["url"] = self.url
        if self.language:
            entity["language"] = self.language
        return entity

    def moved(self, offset: int, length: int) -> Entity:
        return Entity(self.type, offset, length, self.url, self.language)


class Formatted(NamedTuple):
    """Text as the chat shows it and the entities that format it (sorted by offset, the longer
    first where two start together)."""

    text: str
    entities: tuple[Entity, ...] = ()

    def entities_json(self) -> list[dict[str, Any]]:
        return [entity.to_json() for entity in self.entities]


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: a character outside the BMP (most emoji) counts twice."""
    return len(text.encode("utf-16-le")) // 2


def utf16_offsets(text: str) -> list[int]:
    """offsets[i]: UTF-16 units before character i; offsets[-1] is the whole length."""
    offsets = [0] * (len(text) + 1)
    total = 0
    for index, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        offsets[index + 1] = total
    return offsets


def check_link(url: str) -> str:
    """`url` if Telegram takes it for a link (a text_link, a URL button): http or https with a
    host that has a dot (or an IP address) and a valid port, or tg://<name>; ValueError naming
    what is wrong otherwise. Telegram refuses the rest ("Wrong HTTP URL") at send time."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in LINK_SCHEMES:
        raise ValueError(f"{_short(url)!r} is not an http, https or tg link")
    if _WHITESPACE.search(url):
        raise ValueError(f"{_short(url)!r} is a link with whitespace in it")
    if scheme == "tg":
        name = _TG_END.split(url[3:].removeprefix("//"), maxsplit=1)[0]
        if not _TG_NAME.fullmatch(name):
            raise ValueError(f"{_short(url)!r} is not a tg://<name> link")
        if name.lower() in TG_REFUSED:
            raise ValueError(
                f"{_short(url)!r}: tg://{name.lower()} links are refused (in a notification they "
                "would switch the reader's proxy or log them in elsewhere: phishing)"
            )
        return url
    parts = urlsplit(url)
    try:
        port = parts.port  # urlsplit checks the port only when asked for it
    except ValueError:
        port = -1
    if port is not None and not 0 < port <= MAX_PORT:
        raise ValueError(f"{_short(url)!r} is a link with an invalid port")
    host = parts.hostname or ""
    first = parts.path.strip("/").split("/", 1)[0].lower()
    if host.lower() in TELEGRAM_LINK_HOSTS and first in TG_REFUSED:
        raise ValueError(
            f"{_short(url)!r}: https://{host.lower()}/{first} links are refused (the same as "
            f"tg://{first}: a tap would switch the reader's proxy or log them in elsewhere)"
        )
    if "." not in host and ":" not in host:  # ":": an IPv6 address
        raise ValueError(
            f"{_short(url)!r} is a link Telegram refuses: its host needs a domain with a dot"
        )
    return url


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def strip(formatted_text: str, entities: list[Entity]) -> Formatted:
    """The text without leading and trailing whitespace, entities moved and clipped to match:
    Telegram trims a message's ends, and entities must point into what remains."""
    stripped = formatted_text.strip()
    if stripped == formatted_text:
        return Formatted(formatted_text, tuple(_ordered(entities)))
    head = utf16_len(formatted_text[: len(formatted_text) - len(formatted_text.lstrip())])
    end = head + utf16_len(stripped)
    kept = []
    for entity in entities:
        start, stop = max(entity.offset, head), min(entity.offset + entity.length, end)
        if stop > start:
            kept.append(entity.moved(start - head, stop - start))
    return Formatted(stripped, tuple(_ordered(kept)))


def _ordered(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda entity: (entity.offset, -entity.length))
