"""Markdown links and images to text links, every URL checked; brackets that close nothing."""

from __future__ import annotations

import re

import pytest

from bot.formatting.entities import BOLD, TEXT_LINK, Entity
from bot.formatting.markdown import markdown_to_formatted
from tests.formatting.convert import convert


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
