"""Telegram's HTML subset turned into plain text plus entities, strictly: a tag Telegram does not
know, one left open or closed in the wrong place is an error naming it and where it is, found
when the notification is parsed instead of as a "can't parse entities" 400 at send time.

Characters are counted from 1 in the message as published. Lenient only where the meaning is
plain: a `<` or `&` that starts no tag or reference ("a < b", "Tom & Jerry") is text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.entities import html5

from bot.formatting.entities import (
    BLOCKQUOTE,
    BOLD,
    CODE,
    EXPANDABLE_BLOCKQUOTE,
    ITALIC,
    PRE,
    SPOILER,
    STRIKETHROUGH,
    TEXT_LINK,
    UNDERLINE,
    Entity,
    Formatted,
    check_link,
    strip,
    utf16_len,
)

SIMPLE_TAGS = {
    "b": BOLD,
    "strong": BOLD,
    "i": ITALIC,
    "em": ITALIC,
    "u": UNDERLINE,
    "ins": UNDERLINE,
    "s": STRIKETHROUGH,
    "strike": STRIKETHROUGH,
    "del": STRIKETHROUGH,
    "tg-spoiler": SPOILER,
    "code": CODE,
    "pre": PRE,
}
OTHER_TAGS = ("a", "span", "blockquote")
_CODE_TAGS = ("code", "pre")  # nothing but <code> in <pre> may open inside them

# One pass finds every tag and character reference; what lies between is text. The last
# alternative is a tag that never ends ("<b class=x"), an error; a "<" or "&" matched by none is
# text.
_TOKEN = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'=<>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(/?)>"""
    r"|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|</?[a-zA-Z]"
)
_ATTRIBUTE = re.compile(r"""([^\s"'=<>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


class HTMLFormatError(ValueError):
    """A mistake in the HTML, as one line: what is wrong and at which character."""


@dataclass(slots=True)
class _Open:
    tag: str
    at: int  # character (from 1) of its "<"
    entity: str | None  # the entity type it makes, None for <code> inside <pre>
    start: int  # UTF-16 units of text before it
    url: str | None = None
    language: str | None = None


def html_to_formatted(source: str) -> Formatted:
    """Plain text and entities for `source`; HTMLFormatError with a one-line reason if it is
    not HTML Telegram would take."""
    if "<" not in source and "&" not in source:
        return strip(source, [])
    return _Converter(source).run()


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pieces: list[str] = []
        self.length = 0  # UTF-16 units in `pieces`
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []

    def run(self) -> Formatted:
        source, at = self.source, 0
        for token in _TOKEN.finditer(source):
            self._text(source[at : token.start()])
            at = token.end()
            if token[2] is not None:
                self._tag(token[2].lower(), token)
            elif token[5] is not None:
                self._reference(token[5], token.start() + 1)
            else:
                raise HTMLFormatError(f"unterminated tag at character {token.start() + 1}")
        self._text(source[at:])
        if self.stack:
            first = self.stack[0]
            raise HTMLFormatError(f"unclosed <{first.tag}> at character {first.at}")
        return strip("".join(self.pieces), self.entities)

    def _text(self, text: str) -> None:
        if text:
            self.pieces.append(text)
            self.length += len(text) if text.isascii() else utf16_len(text)

    def _reference(self, name: str, at: int) -> None:
        if name[0] != "#":
            if name + ";" not in html5:
                raise HTMLFormatError(f"unknown character reference &{name}; at character {at}")
            self._text(html5[name + ";"])
            return
        code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise HTMLFormatError(f"invalid character reference &{name}; at character {at}")
        self._text(chr(code))

    def _tag(self, tag: str, token: re.Match[str]) -> None:
        at = token.start() + 1
        if tag not in SIMPLE_TAGS and tag not in OTHER_TAGS:
            raise HTMLFormatError(f"unsupported tag <{tag}> at character {at}")
        if token[1]:
            self._close(tag, at)
        elif token[4]:
            raise HTMLFormatError(f"self-closing <{tag}/> at character {at}")
        else:
            self._open(tag, _attributes(token[3]) if token[3] else {}, at)

    def _open(self, tag: str, attributes: dict[str, str | None], at: int) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.tag in _CODE_TAGS and (top.tag, tag) != ("pre", "code"):
            raise HTMLFormatError(
                f"<{tag}> inside <{top.tag}> at character {at}: code is shown as it is"
            )
        opened = _Open(tag, at, SIMPLE_TAGS.get(tag), self.length)
        if tag == "a":
            href = attributes.get("href")
            if not href:
                raise HTMLFormatError(f"<a> without href at character {at}")
            if self._inside("a"):
                raise HTMLFormatError(f"<a> inside <a> at character {at}")
            try:
                opened.url = check_link(href.strip())
            except ValueError as exc:
                raise HTMLFormatError(f"<a href> at character {at}: {exc}") from None
            opened.entity = TEXT_LINK
        elif tag == "span":
            if (attributes.get("class") or "").strip() != "tg-spoiler":
                raise HTMLFormatError(
                    f'<span> at character {at}: only <span class="tg-spoiler"> is supported'
                )
            opened.entity = SPOILER
        elif tag == "blockquote":
            if self._inside("blockquote"):
                raise HTMLFormatError(f"<blockquote> inside <blockquote> at character {at}")
            opened.entity = EXPANDABLE_BLOCKQUOTE if "expandable" in attributes else BLOCKQUOTE
        elif top is not None and top.tag == "pre" and tag == "code":
            # <pre><code class="language-python">: the language of the block, one entity.
            language = (attributes.get("class") or "").strip()
            if language.startswith("language-"):
                top.language = language.removeprefix("language-")
            opened.entity = None
        self.stack.append(opened)

    def _inside(self, tag: str) -> bool:
        return any(item.tag == tag for item in self.stack)

    def _close(self, tag: str, at: int) -> None:
        if not self.stack:
            raise HTMLFormatError(f"</{tag}> at character {at} closes nothing")
        top = self.stack[-1]
        if top.tag != tag:
            raise HTMLFormatError(
                f"</{tag}> at character {at} does not close <{top.tag}> from character {top.at}"
            )
        self.stack.pop()
        if top.entity is not None and self.length > top.start:
            self.entities.append(
                Entity(top.entity, top.start, self.length - top.start, top.url, top.language)
            )


def _attributes(text: str) -> dict[str, str | None]:
    return {match[1].lower(): _value(match.groups()[1:]) for match in _ATTRIBUTE.finditer(text)}


def _value(quoted: tuple[str | None, ...]) -> str | None:
    value = next((value for value in quoted if value is not None), None)
    return None if value is None else html.unescape(value)  # href="...?a=1&amp;b=2"
