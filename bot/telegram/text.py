"""Splitting long notifications into Telegram-sized parts."""

from __future__ import annotations

MAX_UTF16 = 4096  # Telegram's limit for a message, counted in UTF-16 code units

# Preferred cut points, best first. A cut is taken only if it keeps at least half the part,
# so one early newline does not produce a tiny message.
SEPARATORS = ("\n\n", "\n", " ")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: a character outside the BMP (most emoji) counts twice."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_UTF16) -> list[str]:
    """Split `text` into ordered parts of at most `limit` UTF-16 units each, on paragraph, line
    or word boundaries where possible. Cuts fall between characters, so a surrogate pair (an
    emoji) is never cut in half. Blank parts are dropped: Telegram refuses empty messages."""
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        fits = _fitting_prefix(rest, limit)
        head, rest = _cut(rest, fits)
        if head.strip():
            parts.append(head)
    if rest.strip():
        parts.append(rest)
    return parts


def _fitting_prefix(text: str, limit: int) -> int:
    """The number of characters whose UTF-16 length is at most `limit`."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(text: str, fits: int) -> tuple[str, str]:
    """Split at the best separator within the first `fits` characters; the separator is dropped."""
    for separator in SEPARATORS:
        # The separator may straddle the limit: it is dropped, so the head still fits.
        at = text.rfind(separator, 0, fits + len(separator))
        if at >= fits // 2:
            return text[:at], text[at + len(separator) :]
    return text[:fits], text[fits:]
