"""The README stays true to the code: every log event, command and receipt status is documented,
and what it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from bot.cli import command_names
from bot.notification import Outcome
from bot.preferences import QuietMode

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
    assert sorted(c for c in command_names() if f"python -m bot {c}" not in README) == []


def test_every_receipt_status_is_in_the_readme() -> None:
    """The list once left out muted, held and digested."""
    start = README.index("`status` is one of")
    sentence = README[start : README.index("fanout_done", start)]
    statuses = {outcome.value for outcome in Outcome} - {Outcome.DUPLICATE.value}  # no receipt
    assert sorted(s for s in statuses if f"`{s}`" not in sentence) == []


def test_the_quiet_mode_the_readme_names_is_one_the_code_takes() -> None:
    """The prose said "wait" mode; `set_preferences(quiet_mode="wait")` raises."""
    modes = set(get_args(QuietMode))
    named = set(re.findall(r"in `(\w+)` mode", README))
    assert named
    assert named <= modes


def test_the_license_pyproject_names_ships() -> None:
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
