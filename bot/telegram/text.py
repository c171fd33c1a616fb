"""Splitting long notifications into Telegram-sized parts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import regex

MAX_UTF16 = 4096  # Telegram's limit for a message, counted in UTF-16 code units

# Preferred cut points, best first. A cut is taken only if it keeps at least half the part,
# so one early newline does not produce a tiny message.
SEPARATORS = ("\r\n\r\n", "\n\n", "\r\n", "\n", " ")  # browsers' textareas send CRLF

# One user-perceived character: a letter with its accents, a flag, an emoji with its skin tone
# or a family joined by zero-width joiners. `regex` implements Unicode's rules (UAX #29); the
# standard library has none.
GRAPHEME = regex.compile(r"\X")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: a character outside the BMP (most emoji) counts twice."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_UTF16) -> list[str]:
    """Split `text` into ordered parts of at most `limit` UTF-16 units each, on paragraph, line
    or word boundaries where possible, otherwise between user-perceived characters, so neither
    an emoji sequence nor a letter and its accent is cut apart (only a single "character" longer
    than a whole part is cut inside). Blank parts are dropped: Telegram refuses empty messages.

    Linear in the length of `text`: every character is looked at a bounded number of times.
    """
    units = _utf16_offsets(text)
    if units[-1] <= limit:
        return [text] if text.strip() else []
    boundaries = [match.start() for match in GRAPHEME.finditer(text)]
    boundaries.append(len(text))
    parts: list[str] = []
    start = at = 0  # `at` indexes `boundaries`, never past the end of the current part
    while units[-1] - units[start] > limit:
        # The furthest character boundary that keeps the part within the limit.
        while at + 1 < len(boundaries) and units[boundaries[at + 1]] - units[start] <= limit:
            at += 1
        fits = boundaries[at]
        if fits <= start:  # one "character" longer than a whole part: cut inside it
            fits = max(bisect_right(units, units[start] + limit) - 1, start + 1)
        end, resume = _cut(text, start, fits, boundaries)
        if text[start:end].strip():
            parts.append(text[start:end])
        start = resume
        at = bisect_right(boundaries, start) - 1
    if text[start:].strip():
        parts.append(text[start:])
    return parts


def _utf16_offsets(text: str) -> list[int]:
    """offsets[i]: UTF-16 units before character i; offsets[-1] is the whole length."""
    offsets = [0] * (len(text) + 1)
    total = 0
    for index, char in enumerate(text):
        total += 2 if ord(char) > 0xFFFF else 1
        offsets[index + 1] = total
    return offsets


def _cut(text: str, start: int, fits: int, boundaries: list[int]) -> tuple[int, int]:
    """Where the part that starts at `start` ends, and where the next begins: at the best
    separator that keeps at least half of what fits (the separator is dropped, and it must not
    hold a character together, as a space before a combining accent does), else at `fits`."""
    for separator in SEPARATORS:
        # The separator may straddle the limit: it is dropped, so the part still fits.
        at = text.rfind(separator, start, fits + len(separator))
        after = at + len(separator)
        if (
            at > start
            and at - start >= (fits - start) // 2
            and _is_boundary(boundaries, at)
            and _is_boundary(boundaries, after)
        ):
            return at, after
    return fits, fits


def _is_boundary(boundaries: list[int], index: int) -> bool:
    found = bisect_left(boundaries, index)
    return found < len(boundaries) and boundaries[found] == index
