"""Splitting long messages into parts Telegram accepts."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest

from bot.formatting import split as text_module
from bot.formatting.entities import Entity, Formatted, utf16_len
from bot.formatting.split import MAX_UTF16, split_formatted, split_message


def test_a_short_message_is_one_part() -> None:
    assert split_message("hello") == ["hello"]


def test_utf16_length_counts_emoji_twice() -> None:
    assert utf16_len("a😀é") == 4


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("\n\n".join("para " * 300 for _ in range(10)), "\n\n"),
        ("\n".join("line " * 100 for _ in range(40)), "\n"),
        ("word " * 3000, " "),
    ],
)
def test_cuts_fall_on_the_best_boundary_and_lose_nothing(text: str, separator: str) -> None:
    parts = split_message(text)
    assert len(parts) > 1
    assert all(utf16_len(part) <= MAX_UTF16 for part in parts)
    assert separator.join(parts) == text


def test_emoji_are_never_cut_in_half() -> None:
    text = "😀" * 5000  # 10,000 UTF-16 code units, no spaces to cut at
    parts = split_message(text)
    assert [utf16_len(p) for p in parts] == [4096, 4096, 1808]
    assert "".join(parts) == text


def test_a_10000_character_message_keeps_its_order() -> None:
    text = " ".join(f"w{i:05d}" for i in range(1430))  # 10,009 characters
    parts = split_message(text)
    words = " ".join(parts).split()
    assert words == text.split()


def test_blank_parts_are_dropped() -> None:
    text = "a" * 4096 + "\n\n" + " " * 4000
    assert split_message(text) == ["a" * 4096]


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, 11 units


def test_a_joined_emoji_sequence_is_never_cut_apart() -> None:
    parts = split_message(FAMILY * 400)  # 4,400 units, no spaces
    assert [utf16_len(part) for part in parts] == [372 * 11, 28 * 11]
    assert all(part == FAMILY * (len(part) // len(FAMILY)) for part in parts)


def test_a_letter_keeps_its_accents() -> None:
    text = "e\u0301" * 3000  # "é" written as e + combining acute: 6,000 units
    parts = split_message(text)
    assert "".join(parts) == text
    assert all(not part.startswith("\u0301") for part in parts)


def test_windows_line_breaks_are_cut_whole() -> None:
    """Browsers' textareas send CRLF: a cut never leaves a CR at the end of a part."""
    parts = split_message(("x" * 100 + "\r\n") * 100)
    assert all(not part.endswith("\r") for part in parts)
    assert split_message("aaaa\r\n\r\nbbbb", limit=8) == ["aaaa", "bbbb"]


def test_a_space_that_carries_an_accent_is_not_a_cut_point() -> None:
    assert split_message("ab \u0301cd", limit=4) == ["ab \u0301", "cd"]


def test_one_character_longer_than_a_part_is_cut_inside_it() -> None:
    text = "a" + "\u0301" * 5000  # one grapheme of 5,001 units
    parts = split_message(text)
    assert "".join(parts) == text
    assert all(utf16_len(part) <= MAX_UTF16 for part in parts)


def test_splitting_is_linear_in_the_length(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old splitter measured the whole rest for every part (10 MB took seconds on the
    event loop). Count the work instead of timing it: the lines of text.py executed plus the
    characters each separator search may scan. Ten times the text must cost about ten times
    the work. (This sees Python-level loops and the searches; a C-level call over the whole
    rest inside a loop, the old splitter's fault, would have to be counted separately.)"""
    small, large = _work("word " * 20_000, monkeypatch), _work("word " * 200_000, monkeypatch)
    assert large < 12 * small


def _work(text: str, monkeypatch: pytest.MonkeyPatch) -> int:
    work = 0
    cut = text_module._cut

    def counting_cut(value: str, start: int, fits: int, *rest: list[int]) -> tuple[int, int]:
        nonlocal work
        work += fits - start  # rfind looks back over at most what fits
        return cut(value, start, fits, *rest)

    def trace(frame: FrameType, event: str, _arg: Any) -> Any:
        nonlocal work
        if frame.f_code.co_filename != text_module.__file__:
            return None
        if event == "line":
            work += 1
        return trace

    monkeypatch.setattr(text_module, "_cut", counting_cut)
    sys.settrace(trace)
    try:
        split_message(text)
    finally:
        sys.settrace(None)
    return work


def test_entities_that_cross_a_cut_are_carried_into_the_next_part() -> None:
    """A 10,000-character formatted message: bold over the first cut, a link over the second,
    each part's entities pointing at the same characters as in the whole."""
    words = " ".join(f"w{n:04d}" for n in range(1700))  # 10,199 characters
    text = "😀" + words
    bold = Entity("bold", 4000, 200)  # UTF-16 units: crosses 4,096
    link = Entity("text_link", 8100, 300, url="https://e.com")  # crosses the second cut
    parts = split_formatted(Formatted(text, (bold, link)))

    assert len(parts) == 3
    assert all(utf16_len(part.text) <= MAX_UTF16 for part in parts)
    # Each part's entities, moved back to the whole text, cover exactly what the original
    # entities covered there, less the separators dropped at the cuts.
    covered: dict[str, set[int]] = {"bold": set(), "text_link": set()}
    kept: set[int] = set()
    begin = 0
    for part in parts:
        begin = text.index(part.text, begin)
        base = utf16_len(text[:begin])
        kept |= set(range(base, base + utf16_len(part.text)))
        for entity in part.entities:
            covered[entity.type] |= set(
                range(base + entity.offset, base + entity.offset + entity.length)
            )
            assert entity.url == (link.url if entity.type == "text_link" else None)
        begin += len(part.text)
    assert [len([e for p in parts for e in p.entities if e.type == t]) for t in covered] == [2, 2]
    for entity in (bold, link):
        assert (
            covered[entity.type] == set(range(entity.offset, entity.offset + entity.length)) & kept
        )


def test_a_formatted_text_that_fits_is_one_part_unchanged() -> None:
    formatted = Formatted("short", (Entity("bold", 0, 5),))
    assert split_formatted(formatted) == [formatted]
