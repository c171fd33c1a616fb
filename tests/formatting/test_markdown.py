"""Markdown to text plus entities, against golden values worked out by hand."""

from __future__ import annotations

import re

import pytest

from bot.formatting.entities import (
    BLOCKQUOTE,
    BOLD,
    CODE,
    ITALIC,
    PRE,
    STRIKETHROUGH,
    TEXT_LINK,
    Entity,
    Formatted,
)
from bot.formatting.markdown import markdown_to_formatted


def convert(source: str) -> tuple[str, list[Entity]]:
    formatted = markdown_to_formatted(source)
    return formatted.text, list(formatted.entities)


def span(formatted: Formatted, entity: Entity) -> str:
    """The text an entity covers, cut by UTF-16 units as Telegram cuts it."""
    units = formatted.text.encode("utf-16-le")
    return units[2 * entity.offset : 2 * (entity.offset + entity.length)].decode("utf-16-le")


# Inline styles


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


# Code blocks


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


# Links and images


def test_a_link_makes_a_text_link() -> None:
    assert convert("see [the docs](https://example.com/docs) now") == (
        "see the docs now",
        [Entity(TEXT_LINK, 4, 8, url="https://example.com/docs")],
    )


def test_a_link_title_is_dropped() -> None:
    assert convert('[x](https://e.com "title")') == (
        "x",
        [Entity(TEXT_LINK, 0, 1, "https://e.com")],
    )


def test_a_reference_link_uses_its_definition() -> None:
    assert convert("[x][r]\n\n[r]: https://e.com") == (
        "x",
        [Entity(TEXT_LINK, 0, 1, url="https://e.com")],
    )


def test_a_tg_link_is_allowed() -> None:
    assert convert("[me](tg://resolve?domain=me)") == (
        "me",
        [Entity(TEXT_LINK, 0, 2, url="tg://resolve?domain=me")],
    )


def test_bold_inside_a_link_nests() -> None:
    assert convert("[**b** x](https://e.com)") == (
        "b x",
        [Entity(TEXT_LINK, 0, 3, url="https://e.com"), Entity(BOLD, 0, 1)],
    )


def test_a_url_autolink_is_a_text_link_showing_the_url() -> None:
    assert convert("go <https://e.com/a>") == (
        "go https://e.com/a",
        [Entity(TEXT_LINK, 3, 15, url="https://e.com/a")],
    )


def test_an_email_autolink_is_plain_text() -> None:
    assert convert("mail <me@example.com>") == ("mail me@example.com", [])


def test_a_bare_url_is_plain_text_for_telegram_to_detect() -> None:
    assert convert("https://e.com") == ("https://e.com", [])


def test_non_ascii_link_hosts_are_normalised_to_punycode() -> None:
    assert convert("[x](https://пример.рф)") == (
        "x",
        [Entity(TEXT_LINK, 0, 1, url="https://xn--e1afmkfd.xn--p1ai")],
    )


def test_an_image_becomes_its_alt_text_linking_to_the_image() -> None:
    assert convert("![a cat](https://e.com/cat.png)") == (
        "a cat",
        [Entity(TEXT_LINK, 0, 5, url="https://e.com/cat.png")],
    )


def test_an_image_inside_a_link_takes_the_outer_link_because_links_cannot_nest() -> None:
    assert convert("[![alt](https://e.com/i.png)](https://e.com/page)") == (
        "alt",
        [Entity(TEXT_LINK, 0, 3, url="https://e.com/page")],
    )


def test_a_link_with_empty_text_makes_no_entity() -> None:
    assert convert("a [](https://e.com) b") == ("a  b", [])


def test_a_javascript_link_is_refused_naming_the_link_and_its_line() -> None:
    with pytest.raises(ValueError, match=r"'javascript:alert\(1\)'.* \(line 3\)$") as caught:
        markdown_to_formatted("hello\n\n[click](javascript:alert(1))")
    assert "\n" not in str(caught.value)


def test_the_line_of_a_bad_link_counts_lines_inside_its_paragraph() -> None:
    with pytest.raises(ValueError, match=r"\(line 3\)$"):
        markdown_to_formatted("one\ntwo\nthree [x](javascript:alert(1))")


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("<javascript:alert(1)>", "javascript:alert(1)"),
        ("![a](data:image/png;base64,AAAA)", "data:image/png;base64,AAAA"),
        ("[x](example.com)", "example.com"),
        ("[x](mailto:me@example.com)", "mailto:me@example.com"),
        ("> quote\n> [x](file:///etc/passwd)", "file:///etc/passwd"),
    ],
)
def test_every_kind_of_link_is_checked(source: str, url: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"'{url}'")) as caught:
        markdown_to_formatted(source)
    assert str(caught.value).endswith(f"(line {source.count(chr(10)) + 1})")


# Blocks


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


# Literal text


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


# UTF-16


def test_an_emoji_before_an_entity_shifts_it_by_two() -> None:
    assert convert("😀 **x**") == ("😀 x", [Entity(BOLD, 3, 1)])


def test_astral_characters_count_two_units_inside_and_before_entities() -> None:
    formatted = markdown_to_formatted("𠀋👍🏽 *𐍈* [😀](https://e.com)")
    assert formatted == Formatted(
        "𠀋👍🏽 𐍈 😀",
        (Entity(ITALIC, 7, 2), Entity(TEXT_LINK, 10, 2, url="https://e.com")),
    )
    assert [span(formatted, entity) for entity in formatted.entities] == ["𐍈", "😀"]


def test_cjk_characters_count_one_unit_each() -> None:
    assert convert("中文 **粗体** 文本") == ("中文 粗体 文本", [Entity(BOLD, 3, 2)])


def test_cjk_emphasis_closing_after_punctuation_stays_literal_as_commonmark_says() -> None:
    assert convert("**「引用」**です") == ("**「引用」**です", [])


def test_a_long_document_converts_with_every_offset_right() -> None:
    paragraph = "😀 **b** [l](https://e.com)"  # text "😀 b l": 6 units, then "\n\n"
    count = 400
    source = "\n\n".join([paragraph] * count)
    assert len(source) > 10_000
    formatted = markdown_to_formatted(source)
    assert len(formatted.entities) == 2 * count
    last = 8 * (count - 1)
    assert formatted.entities[-2:] == (
        Entity(BOLD, last + 3, 1),
        Entity(TEXT_LINK, last + 5, 1, url="https://e.com"),
    )
    assert all(span(formatted, entity) in {"b", "l"} for entity in formatted.entities)


def test_brackets_that_close_nothing_stay_text_however_many() -> None:
    """2,000 of `![` once made every `[` search the rest of the text for its `]` (61 ms for
    4,000 characters, on the event loop); past a budget they are text at once, as before."""
    assert markdown_to_formatted("![" * 2000).text == "![" * 2000
    assert markdown_to_formatted("[" * 4000).text == "[" * 4000


def test_links_still_work_after_many_open_brackets() -> None:
    formatted = markdown_to_formatted("[" * 50 + " [site](https://example.com)")
    assert formatted.text == "[" * 50 + " site"
    [link] = formatted.entities
    assert (link.type, link.url) == ("text_link", "https://example.com")


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
