"""Templates written into a directory of the test's own, loaded as the bot loads them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.notification.parsing import Parsed, parse_fields
from bot.pipeline.templating import Templating
from bot.templates.files import load_templates

MakeTemplating = Callable[..., Templating]


@pytest.fixture
def make_templating(tmp_path: Path) -> MakeTemplating:
    """Templating over the given files ({"name.toml": text}), as the bot would load them."""

    def make(
        files: dict[str, str], default_language: str = "en", max_chars: int = 4096
    ) -> Templating:
        directory = tmp_path / "templates"
        directory.mkdir(exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        return Templating(
            load_templates(directory), default_language=default_language, max_chars=max_chars
        )

    return make


def prepared(templating: Templating, template: str, data: object, **fields: object) -> Parsed:
    """A notification naming `template`, parsed and prepared as the bot's parser does."""
    return templating.prepare(
        parse_fields({"user_id": 42, "template": template, "data": data, **fields})
    )
