"""Loading templates: a file that cannot render in every language is refused with its file,
language and line, before the bot starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.templates.files import TemplateFileError, load_templates

GOOD = """\
format = "markdown"
category = "orders"

[en]
message = "**Order {{ order }}** ships on {{ eta | date('long') }}"
buttons = [[{ text = "Received", action = "order-{{ order }}:received" }]]

[de]
message = "**Bestellung {{ order }}** kommt am {{ eta | date('long') }}"
buttons = [[{ text = "Erhalten", action = "order-{{ order }}:received" }]]
"""


def load(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    load_templates(tmp_path)


def test_a_good_template_says_its_languages_variables_and_whether_it_formats_times(
    tmp_path: Path,
) -> None:
    (tmp_path / "order_shipped.toml").write_text(GOOD)
    template = load_templates(tmp_path).get("order_shipped")
    assert template is not None
    assert template.manifest() == {
        "languages": ["en", "de"],
        "variables": ["eta", "order"],
        "optional": [],
        "format": "markdown",
        "category": "orders",
    }
    assert template.formats_times


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # A Jinja syntax error on the message's second line: the file's line 4.
        (
            '[en]\nmessage = """\nfirst\n{{ order }\n"""\n',
            "t.toml [en] line 4: message: unexpected '}'",
        ),
        (
            '[en]\nmessage = "{{ x }}"\n[de]\nmessage = "{{ y }}"\n',
            "t.toml [de] line 3: not the same variables as [en]: uses y; lacks x",
        ),
        (
            '[en]\nmessage = "{{ x | shout }}"\n',
            "t.toml [en] line 2: message: unknown filter 'shout'",
        ),
        (
            '[en]\nmessage = "x"\nbuttons = [[{ text = "go" }]]\n',
            "t.toml [en] line 3: button 'go': needs either url or action",
        ),
        (
            '[en]\nmessage = "x"\nbuttons = [[{ text = "go", url = "javascript:alert(1)" }]]\n',
            "is not an http, https or tg link",
        ),
        (
            '[en]\nmessage = "x"\nbuttons = [[{ text = "a", action = "a" }]]\n'
            '[de]\nmessage = "x"\nbuttons = [[{ text = "b", action = "b" }]]\n',
            "t.toml [de] line 4: its buttons' actions differ",
        ),
        (
            'format = "rtf"\n[en]\nmessage = "x"\n',
            "t.toml: format: 'rtf' is not text, html or markdown",
        ),
        (
            '[en]\nmessage = "x"\n[english]\nmessage = "y"\n',
            "[english]: a language is a primary subtag",
        ),
        ("[en\nmessage = 1\n", "t.toml line 1: not valid TOML"),
        ('[en]\nmesage = "x"\n', "t.toml [en] line 1: unknown key 'mesage'"),
        ("format = 'html'\n", "t.toml: no language"),
        # Output that passes through Jinja twice would print the values' placeholders.
        (
            '[en]\nmessage = "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"\n',
            "t.toml [en] line 2: message: macro blocks are not available",
        ),
        ('[en]\nmessage = "{% set s %}{{ x }}{% endset %}{{ s }}"\n', "assignblock blocks"),
        ('[en]\nmessage = "{% filter upper %}{{ x }}{% endfilter %}"\n', "filterblock blocks"),
        ("[en]\nmessage = \"{{ t|map('shout')|join }}\"\n", "unknown filter 'shout'"),
        ('[en]\nmessage = "{{ x|safe }}"\n', "unknown filter 'safe'"),
        (
            '[en]\nmessage = "x"\n'
            'buttons = [[{ text = "go", url = "https://shop.example{{ p }}" }]]\n',
            "a value in the url's scheme or host",
        ),
    ],
)
def test_a_bad_template_is_refused_naming_file_language_and_line(
    tmp_path: Path, text: str, error: str
) -> None:
    with pytest.raises(TemplateFileError) as refused:
        load(tmp_path, "t.toml", text)
    assert error in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_file_name_is_the_templates_name(tmp_path: Path) -> None:
    with pytest.raises(TemplateFileError, match=r"Order Shipped\.toml: a template's name"):
        load(tmp_path, "Order Shipped.toml", '[en]\nmessage = "x"\n')


def test_a_guarded_variable_is_optional_and_map_of_a_time_filter_formats_times(
    tmp_path: Path,
) -> None:
    (tmp_path / "t.toml").write_text(
        '[en]\nmessage = "Hi {{ name }}{% if coupon is defined %} {{ coupon }}{% endif %}'
        " {{ note|default('') }} {{ [at]|map('time')|join }}\"\n"
    )
    template = load_templates(tmp_path).get("t")
    assert template is not None
    assert template.variables == {"name", "at"}
    assert template.optional == {"coupon", "note"}
    assert template.formats_times
