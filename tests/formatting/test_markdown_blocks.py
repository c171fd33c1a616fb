"""Markdown blocks (code, quotes, headings, lists, breaks) to text plus entities; nesting limits."""

from __future__ import annotations

import pytest

from bot.formatting.entities import BLOCKQUOTE, BOLD, ITALIC, PRE, Entity
from bot.formatting.markdown import markdown_to_formatted
from tests.formatting.convert import convert


def test_a_fence_with_an_info_string_makes_pre_with_that_language() -> None:
    assert convert("```python\nprint(1)\n```") == (
        "print(1)",
        [Entity(PRE, 0, 8, language="python")],
    )


def test_only_the_first_word_of_the_info_string_is_the_language() -> None:
    assert convert("```python title=x\nx = 1\n```") == (
        "x = 1",
        [Entity(PRE, 0, 5, language="python")],
    )


def test_a_fence_without_an_info_string_makes_pre_without_a_language() -> None:
    assert convert("~~~\na\n  b\n~~~") == ("a\n  b", [Entity(PRE, 0, 5)])


def test_an_indented_code_block_makes_pre() -> None:
    assert convert("see:\n\n    x = 1\n    y = 2") == (
        "see:\n\nx = 1\ny = 2",
        [Entity(PRE, 6, 11)],
    )


def test_leading_spaces_of_code_at_the_start_of_the_message_are_trimmed_like_telegram() -> None:
    assert convert("```\n  x\n```") == ("x", [Entity(PRE, 0, 1)])


def test_an_empty_fence_leaves_nothing_behind() -> None:
    assert convert("a\n\n```\n```\n\nb") == ("a\n\nb", [])


def test_a_blockquote_makes_a_blockquote() -> None:
    assert convert("> quoted\n> text\n\nafter") == (
        "quoted\ntext\n\nafter",
        [Entity(BLOCKQUOTE, 0, 11)],
    )


def test_nested_blockquotes_make_one_blockquote_covering_the_outer() -> None:
    assert convert("> outer\n>> inner\n\nafter") == (
        "outer\n\ninner\n\nafter",
        [Entity(BLOCKQUOTE, 0, 12)],
    )


def test_formatting_inside_a_blockquote_nests() -> None:
    assert convert("> a **b**") == ("a b", [Entity(BLOCKQUOTE, 0, 3), Entity(BOLD, 2, 1)])


def test_an_atx_heading_is_a_bold_line() -> None:
    assert convert("# Title *x*\n\nbody") == (
        "Title x\n\nbody",
        [Entity(BOLD, 0, 7), Entity(ITALIC, 6, 1)],
    )


def test_a_line_above_dashes_is_a_setext_heading_not_a_rule() -> None:
    assert convert("Title\n---\nbody") == ("Title\n\nbody", [Entity(BOLD, 0, 5)])


def test_a_thematic_break_is_a_line_of_em_dashes() -> None:
    assert convert("a\n\n---\n\nb") == ("a\n\n———\n\nb", [])


def test_bullet_lists_are_lines_starting_with_a_bullet() -> None:
    assert convert("- one\n* two\n\n+ three") == ("• one\n\n• two\n\n• three", [])


def test_a_loose_list_is_as_compact_as_a_tight_one() -> None:
    assert convert("- a\n\n- b\n\nafter") == ("• a\n• b\n\nafter", [])


def test_ordered_lists_are_numbered_from_their_start() -> None:
    assert convert("3. x\n4. y") == ("3. x\n4. y", [])


def test_ordered_lists_number_items_as_a_renderer_would() -> None:
    assert convert("1. a\n1. b\n1) c") == ("1. a\n2. b\n\n1. c", [])


def test_nested_lists_and_continuation_lines_are_indented() -> None:
    assert convert("- a\n  more\n  1. b\n  2. c\n- **d**") == (
        "• a\n  more\n  1. b\n  2. c\n• d",
        [Entity(BOLD, 27, 1)],
    )


def test_a_list_inside_a_blockquote_is_inside_the_quote() -> None:
    assert convert("> - a\n> - b") == ("• a\n• b", [Entity(BLOCKQUOTE, 0, 7)])


@pytest.mark.parametrize("source", ["a\nb", "a  \nb", "a\\\nb"])
def test_soft_and_hard_breaks_are_newlines(source: str) -> None:
    assert convert(source) == ("a\nb", [])


def test_blocks_are_separated_by_one_blank_line() -> None:
    assert convert("a\n\n\n\nb\n# h\n```\nc\n```\n> d") == (
        "a\n\nb\n\nh\n\nc\n\nd",
        [Entity(BOLD, 6, 1), Entity(PRE, 9, 1), Entity(BLOCKQUOTE, 12, 1)],
    )


def _nested_list(levels: int) -> str:
    return "".join("  " * level + f"- level {level}\n" for level in range(levels)) + "\nthe end"


def test_lists_nested_nine_deep_keep_all_their_text() -> None:
    text = markdown_to_formatted(_nested_list(9)).text
    assert "level 8" in text
    assert text.endswith("the end")


@pytest.mark.parametrize(
    ("source", "line"), [(_nested_list(10), 10), ("> " * 20 + "quoted\n\nafter", 1)]
)
def test_nesting_deeper_than_markdown_reads_is_refused_with_its_line(
    source: str, line: int
) -> None:
    """markdown-it drops what lies deeper than its limit without a word (10 levels of lists
    kept 118 characters of 32 K): refused instead, naming the line, so nothing is lost unseen."""
    with pytest.raises(ValueError, match=rf"nested too deeply \(line {line}\)"):
        markdown_to_formatted(source)
