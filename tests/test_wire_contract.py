"""The wire contract for other languages: docs/notification.schema.json is what the code
generates, and every example notification in the docs is valid by it (and by the bot)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from bot.notification.json_schema import DIALECT, json_schema, render
from bot.notification.schema import Notification
from tests.generated import with_the_pinned_pydantic

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "notification.schema.json"
REGENERATE = "python -m bot schema > docs/notification.schema.json"
# A JSON block is about a notification when it names who it is for; events the bot writes
# back (receipts, taps, replies, links: README "Receipts" and the events streams) name the
# user too, and are told apart by the keys a notification never has.
RECIPIENT_KEYS = ("user_id", "user_ids", "audience")
EVENT_KEYS = frozenset({"type", "status"})
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


def documents() -> list[Path]:
    """README.md and every page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def json_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """The fenced ```json blocks of a Markdown file: (line number, text), indentation removed."""
    text = path.read_text()
    for fence in FENCE.finditer(text):
        if fence["lang"].lower() in ("json", "jsonl"):
            line = text.count("\n", 0, fence.start()) + 1
            indent = len(fence["indent"])
            body = "\n".join(row[indent:] for row in fence["body"].splitlines())
            yield line, body


def values(block: str) -> Iterator[Any]:
    """The JSON values in a block: one, or several one after another (JSON lines)."""
    decoder, at = json.JSONDecoder(), 0
    while True:
        while at < len(block) and block[at].isspace():
            at += 1
        if at == len(block):
            return
        value, at = decoder.raw_decode(block, at)
        yield value


def example_notifications() -> list[tuple[str, dict[str, Any]]]:
    """Every notification written as JSON in the docs, with where it is."""
    found = []
    for path in documents():
        for line, block in json_blocks(path):
            if not any(f'"{key}"' in block for key in RECIPIENT_KEYS):
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            try:
                parsed = list(values(block))
            except json.JSONDecodeError as exc:
                pytest.fail(f"{where}: a JSON example that is not JSON: {exc}")
            for value in parsed:
                if isinstance(value, dict) and not EVENT_KEYS & value.keys():
                    found.append((where, value))
    return found


def test_the_schema_file_is_what_the_code_generates() -> None:
    with_the_pinned_pydantic()
    assert SCHEMA_FILE.exists(), f"{SCHEMA_FILE} is missing: {REGENERATE}"
    assert SCHEMA_FILE.read_text() == render(), (
        f"docs/notification.schema.json is out of date with bot/notification/: {REGENERATE}"
    )


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == DIALECT
    Draft202012Validator.check_schema(schema)  # raises SchemaError with the reason
    with_the_pinned_pydantic()
    assert schema == json_schema()


def test_the_docs_have_example_notifications_to_check() -> None:
    """The search below finds what it is meant to (a pattern that matched nothing would pass
    every example unseen): the other-languages page alone has several."""
    pages = {where.partition(":")[0] for where, _ in example_notifications()}
    assert "docs/guides/other-languages.md" in pages


@pytest.mark.parametrize(("where", "payload"), example_notifications())
def test_every_example_notification_in_the_docs_is_valid(
    where: str, payload: dict[str, Any]
) -> None:
    """By the schema a web app in another language validates with, and by the bot's own
    rules between fields (which no JSON Schema here says: a user or a fan-out, a message or a
    template, what each op needs); no field the bot would ignore."""
    validator = Draft202012Validator(
        json.loads(SCHEMA_FILE.read_text()), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert not errors, f"{where}: not valid by docs/notification.schema.json: {errors}"
    unknown = sorted(set(payload) - set(Notification.model_fields))
    assert not unknown, f"{where}: fields the bot ignores (a typo?): {unknown}"
    try:
        Notification.model_validate(payload)
    except ValidationError as exc:
        pytest.fail(f"{where}: the bot would refuse it: {exc}")
