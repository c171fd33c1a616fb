"""The markdown tests' conversion: the text and the entities a markdown source becomes."""

from __future__ import annotations

from bot.formatting.entities import Entity
from bot.formatting.markdown import markdown_to_formatted


def convert(source: str) -> tuple[str, list[Entity]]:
    formatted = markdown_to_formatted(source)
    return formatted.text, list(formatted.entities)
