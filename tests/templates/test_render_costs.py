"""Rendering one template: going over the budget is the render's error, not a crash, and only
the render's own work counts against it."""

from __future__ import annotations

import gc
from zoneinfo import ZoneInfo

import pytest

from bot.templates.filters import Reader
from bot.templates.render import ButtonSource, Renderer, RenderError


def test_a_button_over_the_budget_is_a_render_error() -> None:
    """A button's label and URL are counted after they render, outside Jinja: going over the
    budget there stops the render with RenderError (it was a RenderLimit, which the pipeline
    took for a crash)."""
    renderer = Renderer()
    label = renderer.environment.from_string("{{ label }}")
    buttons = ((ButtonSource(label, "https://shop.example/", None),),)
    with pytest.raises(RenderError, match="render stopped: over 100 characters"):
        renderer.render(
            "text",
            "Hello",
            buttons,
            data={"label": "x" * 101},
            reader=Reader("en", ZoneInfo("UTC")),
            max_chars=100,
        )


def test_no_garbage_collection_runs_during_a_render() -> None:
    """A full collection (tens of ms with thousands of notifications in flight) would count
    against the render's time budget: it waits until the render is done."""
    enabled: list[bool] = []

    class Probe:
        def __str__(self) -> str:
            enabled.append(gc.isenabled())
            return "probe"

    renderer = Renderer()
    message = renderer.environment.from_string("{{ value }}")
    reader = Reader("en", ZoneInfo("UTC"))
    rendered = renderer.render(
        "text", message, (), data={"value": Probe()}, reader=reader, max_chars=100
    )
    assert renderer.render_plain(message, {"value": Probe()}, reader) == "probe"
    assert (rendered.formatted.text, enabled, gc.isenabled()) == ("probe", [False, False], True)


def test_a_template_has_range_and_dict_and_no_other_global() -> None:
    renderer = Renderer()
    reader = Reader("en", ZoneInfo("UTC"))
    source = "{% for n in range(3) %}{{ n }}{% endfor %} {{ dict(a=1)['a'] }}"
    assert renderer.render_plain(renderer.environment.from_string(source), {}, reader) == "012 1"
    with pytest.raises(RenderError, match="lipsum"):
        renderer.render_plain(renderer.environment.from_string("{{ lipsum() }}"), {}, reader)


@pytest.mark.parametrize(
    ("source", "value", "text", "entities"),
    [
        # A value outside the BMP counts twice, and its markup lands as typed.
        ("<b>{{ v }}</b> <i>x</i>", "😀<b>", "😀<b> x", [("bold", 0, 5), ("italic", 6, 1)]),
        ("é 😀 {{ v }} <b>y</b>", "z", "é 😀 z y", [("bold", 7, 1)]),  # the template's own
        ("<b>{{ v }}</b> <i>x</i>", "plain", "plain x", [("bold", 0, 5), ("italic", 6, 1)]),
    ],
)
def test_entities_move_by_utf16_units_around_a_value(
    source: str, value: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    renderer = Renderer()
    rendered = renderer.render(
        "html",
        renderer.environment.from_string(source),
        (),
        data={"v": value},
        reader=Reader("en", ZoneInfo("UTC")),
        max_chars=100,
    )
    assert rendered.formatted.text == text
    assert [(e.type, e.offset, e.length) for e in rendered.formatted.entities] == entities
