"""templates check and templates render: a web app's CI checks its templates as the bot's
start-up would, and an operator sees what a reader's chat would show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Ran
from tests.test_templates import ORDER_SHIPPED

NOTE = """\
format = "markdown"

[en]
message = "**{{ who }}** wrote: {{ text }}"
"""

# A Jinja syntax error in [de]'s message, on line 7 of the file.
BROKEN = """\
format = "html"

[en]
message = "Order {{ order }} ships"

[de]
message = "Bestellung {{ order } wird versandt"
"""

# [de] (its header on line 4) forgets the date.
LACKING = """\
[en]
message = "Order {{ order }} ships on {{ eta | date }}"

[de]
message = "Bestellung {{ order }} wird versandt"
"""

# What a web app may put in a value: it must arrive as typed, never read as markup.
HOSTILE = "<b>17</b> & *x* _y_"


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "order_shipped.toml").write_text(ORDER_SHIPPED)
    (directory / "note.toml").write_text(NOTE)
    return directory


def one_line_error(result: Ran) -> str:
    """The error a command printed: exit 2, nothing on stdout, one line on stderr."""
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_check_lists_each_template_of_a_good_directory(cli: Cli, templates_dir: Path) -> None:
    result = cli("templates", "check", str(templates_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "note: languages en; variables text, who; format markdown",
        "order_shipped: languages en, de; variables eta, order; format html; category orders",
    ]


def test_check_reads_templates_dir_when_given_no_directory(cli: Cli, templates_dir: Path) -> None:
    result = cli("templates", "check", env={"TEMPLATES_DIR": str(templates_dir)})
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_check_without_a_directory_or_templates_dir_is_one_line(cli: Cli) -> None:
    error = one_line_error(cli("templates", "check"))
    assert error.startswith("config error: TEMPLATES_DIR is not set")


def test_check_of_a_path_that_is_no_directory_is_one_line(cli: Cli, tmp_path: Path) -> None:
    error = one_line_error(cli("templates", "check", str(tmp_path / "nowhere")))
    assert error == f"error: {tmp_path / 'nowhere'}: not a directory"


def test_a_syntax_error_names_the_file_the_language_and_the_line(
    cli: Cli, templates_dir: Path
) -> None:
    (templates_dir / "broken.toml").write_text(BROKEN)
    error = one_line_error(cli("templates", "check", str(templates_dir)))
    assert re.fullmatch(r"error: broken\.toml \[de\] line 7: message: .+", error), error


def test_a_language_lacking_a_variable_names_it_and_its_table(
    cli: Cli, templates_dir: Path
) -> None:
    (templates_dir / "lacking.toml").write_text(LACKING)
    error = one_line_error(cli("templates", "check", str(templates_dir)))
    assert error == "error: lacking.toml [de] line 4: not the same variables as [en]: lacks eta"


def test_render_shows_the_german_text_entities_and_buttons_with_values_literal(
    cli: Cli, templates_dir: Path
) -> None:
    data = json.dumps({"order": HOSTILE, "eta": "2026-12-24"})
    result = cli(
        "templates", "render", "order_shipped", "--lang", "de", "--data", data,
        "--dir", str(templates_dir), "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = f"Bestellung {HOSTILE} wird am 24.12.2026 versandt"
    bold = len(f"Bestellung {HOSTILE}")
    lines = result.stdout.splitlines()
    assert lines[:8] == [
        "order_shipped [de], format html, time zone Europe/Berlin",
        "---",
        text,
        "---",
        "entities:",
        f"  bold: offset 0, length {bold}: 'Bestellung {HOSTILE}'",
        "buttons:",
        "  row 1: [Verfolgen] url https://shop.example/t/%3Cb%3E17%3C%2Fb%3E%20%26%20%2Ax%2A%20_y_",
    ]
    assert lines[8:] == [f"  row 2: [Erhalten] action order-{HOSTILE}:received"]


def test_render_of_markdown_keeps_stars_and_underscores_in_values(
    cli: Cli, templates_dir: Path
) -> None:
    data = json.dumps({"who": "*_Ada_*", "text": "<b>hi</b> & `x`"})
    result = cli("templates", "render", "note", "--data", data, "--dir", str(templates_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2] == "*_Ada_* wrote: <b>hi</b> & `x`"
    assert "  bold: offset 0, length 7: '*_Ada_*'" in result.stdout
    assert "buttons: none" in result.stdout


def test_render_json_gives_what_the_bot_would_send(cli: Cli, templates_dir: Path) -> None:
    result = cli(
        "templates", "render", "order_shipped", "--lang", "en-GB", "--json",
        "--data", '{"order": 17, "eta": "2026-12-24"}', "--dir", str(templates_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["language"] == "en"
    assert shown["time_zone"] == "UTC"
    assert shown["text"] == "Order 17 ships on Dec 24, 2026"
    assert shown["entities"] == [{"type": "bold", "offset": 0, "length": 8}]
    assert shown["buttons"] == [
        [{"text": "Track", "url": "https://shop.example/t/17"}],
        [{"text": "Received it", "action": "order-17:received"}],
    ]


def test_render_for_a_language_the_template_lacks_says_which_it_shows(
    cli: Cli, templates_dir: Path
) -> None:
    """As the bot does: DEFAULT_LANGUAGE, else the template's first."""
    data = '{"order": 17, "eta": "2026-12-24"}'
    env = {"TEMPLATES_DIR": str(templates_dir), "DEFAULT_LANGUAGE": "de"}
    result = cli("templates", "render", "order_shipped", "--lang", "fr", "--data", data, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("order_shipped [de] (it has no [fr]), format html")


def test_render_names_a_missing_variable_in_one_line(cli: Cli, templates_dir: Path) -> None:
    result = cli(
        "templates", "render", "order_shipped", "--lang", "de", "--data", '{"order": 17}',
        "--dir", str(templates_dir),
    )  # fmt: skip
    assert one_line_error(result) == "error: data.eta: missing (template order_shipped)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope"], "error: template: 'nope' is not one of this bot's: note, order_shipped"),
        (["note", "--data", "[1]"], "argument --data: expected a JSON object, got an array"),
        (["note", "--data", "{"], "argument --data: not valid JSON"),
        (["note", "--timezone", "Mars/Base"], "error: 'Mars/Base' is not a time zone"),
        (
            ["order_shipped", "--data", '{"order": 1, "eta": "soon"}'],
            "error: template order_shipped [en]: data.eta: ",
        ),
    ],
)
def test_render_errors_are_one_line(
    cli: Cli, templates_dir: Path, args: list[str], expected: str
) -> None:
    result = cli("templates", "render", *args, "--dir", str(templates_dir))
    assert expected in one_line_error(result)


def test_templates_without_a_command_is_a_usage_error(cli: Cli) -> None:
    assert "required: COMMAND" in one_line_error(cli("templates"))
