"""Splitting long messages into parts Telegram accepts."""

from __future__ import annotations

import pytest

from bot.telegram.text import MAX_UTF16, split_message, utf16_len


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
