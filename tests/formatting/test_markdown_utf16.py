"""Markdown entities' offsets and lengths in UTF-16 units, as Telegram counts them."""

from __future__ import annotations

from bot.formatting.entities import BOLD, ITALIC, TEXT_LINK, Entity, Formatted
from bot.formatting.markdown import markdown_to_formatted
from tests.formatting.convert import convert


def span(formatted: Formatted, entity: Entity) -> str:
    """The text an entity covers, cut by UTF-16 units as Telegram cuts it."""
    units = formatted.text.encode("utf-16-le")
    return units[2 * entity.offset : 2 * (entity.offset + entity.length)].decode("utf-16-le")


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
