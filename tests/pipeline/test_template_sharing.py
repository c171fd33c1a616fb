"""Rendering a templated notification for its readers: renders shared, and nothing kept alive
for the garbage collector to find."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.notification.parsing import parse_fields
from bot.pipeline.templating import Templating
from bot.templates.files import load_templates
from bot.templates.render import RenderError
from tests.test_templates import ORDER_SHIPPED


@pytest.fixture
def templating(tmp_path: Path) -> Templating:
    (tmp_path / "order_shipped.toml").write_text(ORDER_SHIPPED)
    return Templating(load_templates(tmp_path), default_language="en", max_chars=4096)


@pytest.fixture
def no_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_render_leaves_no_reference_cycle(templating: Templating, no_collection: None) -> None:
    """What the collector frees is what only it can: a render kept for the readers who share it
    once pointed back to the notification's Rendering, 18 objects for each notification."""
    for user in range(1, 51):
        fields = {"user_id": user, "template": "order_shipped"}
        data = {"order": user, "eta": "2026-12-24"}
        parsed = templating.prepare(parse_fields(fields | {"data": data}))
        rendered, language = templating.for_reader(parsed, None, "de" if user % 2 else "en", None)
        assert rendered.notification.user_id == user
        assert language == ("de" if user % 2 else "en")
    assert gc.collect() == 0


def test_readers_share_a_render_each_with_their_own_fields(templating: Templating) -> None:
    data = {"order": 17, "eta": "2026-12-24"}
    parsed = templating.prepare(
        parse_fields({"user_id": 1, "template": "order_shipped", "data": data})
    )
    first, _ = templating.for_reader(parsed, None, "de", None)
    other, _ = templating.for_reader(
        parsed._replace(notification=parsed.notification.model_copy(update={"user_id": 2})),
        None,
        "de-AT",
        None,
    )
    assert templating.renders == 1
    assert (first.notification.user_id, other.notification.user_id) == (1, 2)
    assert first.formatted == other.formatted
    assert other.notification.message == first.notification.message
    assert other.notification.buttons == first.notification.buttons
    assert other.rendering is parsed.rendering


def test_a_render_that_fails_fails_alike_for_every_reader(templating: Templating) -> None:
    data = {"order": 17, "eta": "not a date"}
    parsed = templating.prepare(
        parse_fields({"user_id": 1, "template": "order_shipped", "data": data})
    )
    errors = []
    for _ in range(3):
        with pytest.raises(RenderError) as caught:
            templating.for_reader(parsed, None, "en", None)
        errors.append(caught.value)
    assert templating.renders == 1
    assert len({str(error) for error in errors}) == 1
    assert "data.eta" in str(errors[0])
