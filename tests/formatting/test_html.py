"""Telegram's HTML subset to text and entities: golden values worked out by hand (offsets in
UTF-16 code units), and every mistake refused with where it is."""

from __future__ import annotations

import pytest

from bot.formatting.entities import Entity, Formatted
from bot.formatting.html import HTMLFormatError, html_to_formatted


def entities(source: str) -> list[tuple[str, int, int]]:
    return [(e.type, e.offset, e.length) for e in html_to_formatted(source).entities]


def test_the_order_example_becomes_bold_and_a_link() -> None:
    result = html_to_formatted(
        '<b>Order #17</b> has shipped. <a href="https://shop.example/t/17">Track it</a>'
    )
    assert result == Formatted(
        "Order #17 has shipped. Track it",
        (
            Entity("bold", 0, 9),
            Entity("text_link", 23, 8, url="https://shop.example/t/17"),
        ),
    )


@pytest.mark.parametrize(
    ("tag", "entity"),
    [
        ("b", "bold"),
        ("strong", "bold"),
        ("i", "italic"),
        ("em", "italic"),
        ("u", "underline"),
        ("ins", "underline"),
        ("s", "strikethrough"),
        ("strike", "strikethrough"),
        ("del", "strikethrough"),
        ("tg-spoiler", "spoiler"),
        ("code", "code"),
        ("pre", "pre"),
        ("blockquote", "blockquote"),
    ],
)
def test_each_tag_of_telegrams_subset_makes_its_entity(tag: str, entity: str) -> None:
    assert html_to_formatted(f"a <{tag}>xyz</{tag}> b") == Formatted(
        "a xyz b", (Entity(entity, 2, 3),)
    )


def test_nested_tags_give_nested_entities_outer_first() -> None:
    assert entities("<b>bold <i>both <u>all three</u></i></b> plain") == [
        ("bold", 0, 19),
        ("italic", 5, 14),
        ("underline", 10, 9),
    ]


def test_emoji_and_other_astral_characters_count_two_utf16_units() -> None:
    # 😀 and 𝄞 (U+1D11E) are one character each in Python, two code units for Telegram.
    assert entities("😀𝄞 <b>x</b> é <i>y</i>") == [("bold", 5, 1), ("italic", 9, 1)]


def test_an_emoji_inside_an_entity_counts_in_its_length() -> None:
    assert entities("<b>👍🏽 ok</b>") == [("bold", 0, 7)]


def test_character_references_are_decoded_and_count_as_what_they_show() -> None:
    result = html_to_formatted("&lt;b&gt; &amp; &quot;q&quot; &#128512; &#x41; <b>x</b>")
    assert result.text == '<b> & "q" 😀 A x'
    assert result.entities == (Entity("bold", 15, 1),)


def test_a_bare_ampersand_or_less_than_sign_is_text() -> None:
    assert html_to_formatted("Tom & Jerry: 1 < 2, <3").text == "Tom & Jerry: 1 < 2, <3"


def test_span_tg_spoiler_and_expandable_blockquote() -> None:
    assert entities('<span class="tg-spoiler">s</span><blockquote expandable>q</blockquote>') == [
        ("spoiler", 0, 1),
        ("expandable_blockquote", 1, 1),
    ]


def test_pre_with_a_language_is_one_entity() -> None:
    result = html_to_formatted('<pre><code class="language-python">print(1)</code></pre>')
    assert result == Formatted("print(1)", (Entity("pre", 0, 8, language="python"),))


def test_a_link_keeps_its_query_string_decoded() -> None:
    [link] = html_to_formatted('<a href="https://e.com/?a=1&amp;b=2">x</a>').entities
    assert link.url == "https://e.com/?a=1&b=2"


def test_tags_are_case_insensitive() -> None:
    assert entities("<B>x</B>") == [("bold", 0, 1)]


def test_leading_and_trailing_whitespace_is_trimmed_and_entities_follow() -> None:
    assert html_to_formatted("\n  <b> x</b>  \n") == Formatted("x", (Entity("bold", 0, 1),))


def test_an_empty_tag_makes_no_entity() -> None:
    assert html_to_formatted("a<b></b>b") == Formatted("ab")


def test_text_without_tags_is_returned_as_is() -> None:
    assert html_to_formatted("plain") == Formatted("plain")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("Hello world <b>unclosed", "unclosed <b> at character 13"),
        ("<b>x <i>y</b></i>", "</b> at character 10 does not close <i> from character 6"),
        ("x</b>", "</b> at character 2 closes nothing"),
        ("<div>x</div>", "unsupported tag <div> at character 1"),
        ("a<br>b", "unsupported tag <br> at character 2"),
        ("<b/>", "self-closing <b/> at character 1"),
        ("<b x", "unterminated tag at character 1"),
        ("<a>x</a>", "<a> without href at character 1"),
        (
            '<a href="javascript:alert(1)">x</a>',
            "<a href> at character 1: 'javascript:alert(1)' is not an http, https or tg link",
        ),
        ("<code><b>x</b></code>", "<b> inside <code> at character 7: code is shown as it is"),
        ("<blockquote><blockquote>x", "<blockquote> inside <blockquote> at character 13"),
        ("<span>x</span>", '<span> at character 1: only <span class="tg-spoiler"> is supported'),
        ("&nbspx; ok", "unknown character reference &nbspx; at character 1"),
        ("&#0;", "invalid character reference &#0; at character 1"),
    ],
)
def test_mistakes_are_refused_naming_what_and_where(source: str, reason: str) -> None:
    with pytest.raises(HTMLFormatError) as refused:
        html_to_formatted(source)
    assert str(refused.value) == reason


def test_an_error_position_counts_characters_from_one() -> None:
    # The "<" of the unclosed tag is the 7th character, emoji included as one.
    with pytest.raises(HTMLFormatError, match=r"at character 7$"):
        html_to_formatted("😀 abc <i>x")
