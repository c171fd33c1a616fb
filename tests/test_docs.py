"""The documentation stays true to the code: the reference pages are what the code makes now,
every log event, command and receipt status is documented, what the prose names exists, and
the README stays a front door (the two set-up commands, at most 200 lines, links that work)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from bot.cli import command_names, command_parser
from bot.notification import Outcome
from bot.pipeline.settle import EVENTS
from bot.preferences import QuietMode
from bot.tools import reference
from tests.generated import with_the_pinned_pydantic

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
PAGES = {path: path.read_text() for path in sorted(DOCS.rglob("*.md"))}
ALL_DOCS = "\n".join(PAGES.values())


def test_the_reference_pages_are_what_the_code_makes_now() -> None:
    with_the_pinned_pydantic()
    assert reference.stale(DOCS, command_parser()) == [], "run: python -m bot reference --docs docs"


def test_every_log_event_is_explained() -> None:
    """In a page written by hand, not only in the generated list of names."""
    events = reference.logged_events() | set(EVENTS.values())
    assert len(events) > 40  # the walk finds them (a broken walk would pass vacuously)
    generated = {DOCS / path for path in reference.pages(command_parser())}
    explained = "\n".join(text for path, text in PAGES.items() if path not in generated)
    assert sorted(e for e in events if f"`{e}`" not in explained) == []


def test_every_command_is_in_the_docs() -> None:
    hand_written = (DOCS / "reference" / "commands.md").read_text()
    assert sorted(c for c in command_names() if f"python -m bot {c}" not in hand_written) == []


def test_every_receipt_status_is_in_the_docs() -> None:
    """The list once left out muted, held and digested."""
    outcomes = (DOCS / "how-it-works" / "outcomes.md").read_text()
    start = outcomes.index("`status` is one of")
    sentence = outcomes[start : outcomes.index("fanout_done", start)]
    statuses = {outcome.value for outcome in Outcome} - {Outcome.DUPLICATE.value}  # no receipt
    assert sorted(s for s in statuses if f"`{s}`" not in sentence) == []


def test_the_quiet_mode_the_docs_name_is_one_the_code_takes() -> None:
    """The prose said "wait" mode; `set_preferences(quiet_mode="wait")` raises."""
    modes = set(get_args(QuietMode))
    named = set(re.findall(r"in `(\w+)` mode", ALL_DOCS))
    assert named
    assert named <= modes


def test_the_readme_is_a_front_door() -> None:
    """At most 200 lines, the two set-up commands first, and links into the docs that exist."""
    lines = README.splitlines()
    assert len(lines) <= 200, f"{len(lines)} lines"
    first_block = README[README.index("```sh") : README.index("```", README.index("```sh") + 5)]
    assert ".venv/bin/pip install -e '.[dev]'" in first_block
    assert ".venv/bin/pytest" in first_block
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", README)
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_the_license_pyproject_names_ships() -> None:
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
