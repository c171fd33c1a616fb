"""The two facades a web app uses: the same methods with the same signatures, each documented,
and an import that brings nothing of the bot's runtime."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import bot
import bot.publisher
from bot.publisher import AsyncPublisher, Publisher


def _public(cls: type) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name in dir(cls)
        if not name.startswith("_") and callable(member := getattr(cls, name))
    }


def test_the_two_publishers_have_the_same_methods() -> None:
    assert _public(Publisher).keys() == _public(AsyncPublisher).keys()


@pytest.mark.parametrize("name", sorted(_public(Publisher)))
def test_each_method_takes_the_same_arguments_in_both(name: str) -> None:
    blocking = inspect.signature(getattr(Publisher, name))
    asynchronous = inspect.signature(getattr(AsyncPublisher, name))
    assert list(blocking.parameters.values()) == list(asynchronous.parameters.values())
    # What the asyncio one returns is awaited or iterated with `async for`: the same values.
    expected = (
        str(blocking.return_annotation)
        .replace("Generator[", "AsyncGenerator[")
        .replace(", None, None]", ", None]")
        .replace("Publisher", "AsyncPublisher")
    )
    assert str(asynchronous.return_annotation) == expected


@pytest.mark.parametrize("cls", [Publisher, AsyncPublisher])
def test_every_public_method_says_what_it_takes_and_returns(cls: type) -> None:
    undocumented = []
    for name, method in _public(cls).items():
        doc = inspect.getdoc(method) or ""
        takes = [p for p in inspect.signature(method).parameters if p not in ("self", "cls")]
        missing = [
            section
            for section, needed in (("Args:", bool(takes)), ("Returns:", True))
            if needed and section not in doc
        ]
        # Each argument is named in Args (a **options one as **options).
        missing += [p for p in takes if not re.search(rf"^\s+\**{p}:", doc, re.MULTILINE)]
        if missing:
            undocumented.append(f"{cls.__name__}.{name}: {missing}")
    assert undocumented == []


def test_everything_exported_exists_and_the_package_is_typed() -> None:
    assert [name for name in bot.publisher.__all__ if not hasattr(bot.publisher, name)] == []
    # PEP 561: a web app's mypy reads the package's annotations only with this marker.
    assert (Path(bot.__file__).parent / "py.typed").is_file()
