"""Cutting long notifications into Telegram-sized parts, entities and all."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import regex

from bot.formatting.entities import Formatted, utf16_offsets

MAX_UTF16 = 4096  # Telegram's limit for a message, counted in UTF-16 code units
MAX_CAPTION_UTF16 = 1024  # and for a photo's or a document's caption

# Preferred cut points, best first. A cut is taken only if it keeps at least half the part,
# so one early newline does not produce a tiny message.
SEPARATORS = ("\r\n\r\n", "\n\n", "\r\n", "\n", " ")  # browsers' textareas send CRLF

# One user-perceived character: a letter with its accents, a flag, an emoji with its skin tone
# or a family joined by zero-width joiners. `regex` implements Unicode's rules (UAX #29); the
# standard library has none.
GRAPHEME = regex.compile(r"\X")


def split_message(text: str, limit: int = MAX_UTF16) -> list[str]:
    """Split `text` into ordered parts of at most `limit` UTF-16 units each, on paragraph, line
    or word boundaries where possible, otherwise between user-perceived characters, so neither
    an emoji sequence nor a letter and its accent is cut apart (only a single "character" longer
    than a whole part is cut inside). Blank parts are dropped: Telegram refuses empty messages.
    """
    return [text[start:end] for start, end in _ranges(text, utf16_offsets(text), limit)]


def split_formatted(formatted: Formatted, limit: int = MAX_UTF16) -> list[Formatted]:
    """`formatted` cut like split_message, each part with the entities that fall in it: an
    entity that crosses a cut is carried into the next part (bold stays bold on both sides)."""
    text = formatted.text
    units = utf16_offsets(text)
    ranges = _ranges(text, units, limit)
    if len(ranges) == 1 and ranges[0] == (0, len(text)):
        return [formatted]
    parts = []
    for start, end in ranges:
        low, high = units[start], units[end]
        entities = []
        for entity in formatted.entities:
            first, last = max(entity.offset, low), min(entity.offset + entity.length, high)
            if last > first:
                entities.append(entity.moved(first - low, last - first))
        parts.append(Formatted(text[start:end], tuple(entities)))
    return parts


def _ranges(text: str, units: list[int], limit: int) -> list[tuple[int, int]]:
    """The parts of `text` as (start, end) character indexes. Linear in the length of `text`:
    every character is looked at a bounded number of times."""
    if units[-1] <= limit:
        return [(0, len(text))] if text.strip() else []
    boundaries = [match.start() for match in GRAPHEME.finditer(text)]
    boundaries.append(len(text))
    parts: list[tuple[int, int]] = []
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
            parts.append((start, end))
        start = resume
        at = bisect_right(boundaries, start) - 1
    if text[start:].strip():
        parts.append((start, len(text)))
    return parts


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
