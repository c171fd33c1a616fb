"""Markdown's inline styles and literal text to text plus entities, against golden values."""

from __future__ import annotations

import pytest

from bot.formatting.entities import BOLD, CODE, ITALIC, STRIKETHROUGH, Entity, Formatted
from bot.formatting.markdown import markdown_to_formatted
from tests.formatting.convert import convert


@pytest.mark.parametrize("source", ["**bold**", "__bold__"])
def test_double_stars_and_underscores_make_bold(source: str) -> None:
    assert convert(source) == ("bold", [Entity(BOLD, 0, 4)])


@pytest.mark.parametrize("source", ["*it*", "_it_"])
def test_single_stars_and_underscores_make_italic(source: str) -> None:
    assert convert(source) == ("it", [Entity(ITALIC, 0, 2)])


def test_double_tildes_make_strikethrough() -> None:
    assert convert("was ~~5~~ 4") == ("was 5 4", [Entity(STRIKETHROUGH, 4, 1)])


def test_single_tildes_stay_literal() -> None:
    assert convert("~about~ 5") == ("~about~ 5", [])


def test_backticks_make_code_and_keep_markdown_inside_literal() -> None:
    assert convert("run `a **b**`") == ("run a **b**", [Entity(CODE, 4, 7)])


def test_bold_and_italic_nest() -> None:
    assert convert("**bold _italic_ bold**") == (
        "bold italic bold",
        [Entity(BOLD, 0, 16), Entity(ITALIC, 5, 6)],
    )


def test_italic_around_bold_nests_the_other_way() -> None:
    assert convert("*a **b***") == ("a b", [Entity(ITALIC, 0, 3), Entity(BOLD, 2, 1)])


def test_three_stars_make_bold_italic() -> None:
    assert convert("***x***") == ("x", [Entity(ITALIC, 0, 1), Entity(BOLD, 0, 1)])


@pytest.mark.parametrize(
    "source",
    ["a <b>bold</b> tag", "<div>\nblock\n</div>", "x <script>alert(1)</script>"],
)
def test_raw_html_stays_literal_text(source: str) -> None:
    assert convert(source) == (source, [])


def test_backslash_escapes_give_the_literal_character() -> None:
    assert convert(r"\*not italic\* \_ \[x\](y) \# \\") == ("*not italic* _ [x](y) # \\", [])


def test_html_character_references_are_decoded() -> None:
    assert convert("&amp; &copy; &#65;") == ("& © A", [])


@pytest.mark.parametrize(
    "source",
    ["$5 and $10", "snake_case_names", "2 * 3 * 4", "file_name_.txt"],
)
def test_ordinary_symbols_stay_literal(source: str) -> None:
    assert convert(source) == (source, [])


def test_stars_between_digits_do_make_italic_as_commonmark_says() -> None:
    assert convert("2*3*4") == ("234", [Entity(ITALIC, 1, 1)])


def test_double_underscores_around_a_word_make_bold_even_in_a_file_name() -> None:
    assert convert("see __init__.py") == ("see init.py", [Entity(BOLD, 4, 4)])


def test_telegram_markdown_v2_escapes_are_not_special() -> None:
    assert convert("Price: 5.00! (ok)") == ("Price: 5.00! (ok)", [])


def test_empty_markdown_gives_empty_text() -> None:
    assert markdown_to_formatted("") == Formatted("")
    assert markdown_to_formatted("  \n\n # \n") == Formatted("")
