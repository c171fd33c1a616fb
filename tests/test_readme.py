"""The README stays true to the code: every log event and every command is documented."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
LEVELS = {"debug", "info", "warning", "error", "exception"}


def logged_events() -> set[str]:
    """The event names the bot logs (`log.info("name", ...)` with a literal name)."""
    events = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVELS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "log"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                events.add(node.args[0].value)
    return events


def test_every_log_event_is_in_the_readme() -> None:
    events = logged_events()
    assert len(events) > 40  # the walk finds them (a broken walk would pass vacuously)
    assert sorted(e for e in events if f"`{e}`" not in README) == []


def test_every_command_is_in_the_readme() -> None:
    assert sorted(c for c in COMMANDS if f"python -m bot {c}" not in README) == []
