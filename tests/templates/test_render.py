"""Rendering one template: what goes over the budget is the render's error, not a crash."""

from __future__ import annotations

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
