"""The commands on the operator's templates (TEMPLATES_DIR): check them all, show one rendered."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli import environment
from bot.cli.command import EXIT_OK, Commands
from bot.config.settings import ConfigError

if TYPE_CHECKING:
    from bot.formatting.entities import Formatted
    from bot.notification.schema import Button
    from bot.templates.files import Templates


def add_commands(commands: Commands) -> None:
    """templates check and templates render."""
    group = commands.add_parser(
        "templates",
        help="check the templates (TEMPLATES_DIR), or show one as a reader's chat would",
        description="The templates a notification can name instead of a message: check them "
        "as the bot does at start-up, or render one for a reader.",
    )
    templates = group.add_subparsers(metavar="COMMAND", required=True)
    check = templates.add_parser(
        "check",
        help="check every template; one line for each",
        description="Load and check every template in DIR (default: TEMPLATES_DIR) as the bot "
        "does at start-up, and print one line per template: its name, languages, variables "
        "and format. A template the bot would refuse is one line naming its file, language "
        "and line, and exit code 2 (for a web app's CI).",
    )
    check.add_argument(
        "directory", nargs="?", type=Path, metavar="DIR", help="the templates' directory"
    )
    check.set_defaults(func=_check)
    render = templates.add_parser(
        "render",
        help="print what a chat shows for a template, a language and data",
        description="Render template NAME as the bot would for a reader of --lang (a reader "
        "with no language known when left out: DEFAULT_LANGUAGE, else the template's first) "
        "in --timezone, and print the text, its entities and its buttons. An error (an "
        "unknown template, a missing or wrong value) is one line and exit code 2.",
    )
    render.add_argument("name", metavar="NAME", help="the template (its file name without .toml)")
    render.add_argument(
        "--lang",
        metavar="TAG",
        help="the reader's language (de, de-AT); without a table for it, the bot falls back to "
        "DEFAULT_LANGUAGE, else the template's first, and so does this",
    )
    render.add_argument(
        "--data",
        type=_json_object,
        default={},
        metavar="JSON",
        help="the notification's data, a JSON object (default {})",
    )
    render.add_argument("--dir", type=Path, metavar="DIR", help="default: TEMPLATES_DIR")
    render.add_argument(
        "--timezone",
        metavar="ZONE",
        help="the reader's time zone for date and time (default UTC, as for a user who set none)",
    )
    render.add_argument(
        "--json", action="store_true", help="print one JSON object (text, entities, buttons)"
    )
    render.set_defaults(func=_render)


def _check(args: argparse.Namespace) -> int:
    directory = args.directory or _templates_dir(None)
    templates = _load(directory)
    if not len(templates):
        print(f"no templates in {directory} (no *.toml file)")
    for template in templates:
        variables = ", ".join(sorted(template.variables)) or "none"
        category = f"; category {template.category}" if template.category else ""
        print(
            f"{template.name}: languages {', '.join(template.languages)}; "
            f"variables {variables}; format {template.format}{category}"
        )
    return EXIT_OK


def _render(args: argparse.Namespace) -> int:
    from bot.notification.parsing import parse_fields  # noqa: PLC0415 - LAZY, see bot.cli
    from bot.pipeline.templating import Templating  # noqa: PLC0415 - LAZY, see bot.cli
    from bot.preferences import primary_subtag, zone_of  # noqa: PLC0415 - LAZY, see bot.cli

    if args.timezone is not None:
        zone_of(args.timezone)  # the bot keeps no zone it does not know: nor does this
    settings = environment.settings(require_token=False)
    templating = Templating(
        _load(_templates_dir(args.dir, settings.templates_dir)),
        default_language=settings.default_language,
        max_chars=settings.message_max_chars,
    )
    # Exactly the bot's way: the payload parsed, prepared (the template and its variables
    # checked), then rendered for one reader.
    payload = {"user_id": 0, "template": args.name, "data": args.data}
    parsed = templating.prepare(parse_fields(payload, settings.message_max_chars))
    rendered, language = templating.for_reader(parsed, args.lang, None, args.timezone)
    template = templating.templates.by_name[args.name]
    zone = (args.timezone or "UTC") if template.formats_times else None
    buttons = rendered.notification.buttons or []
    if args.json:
        print(
            json.dumps(
                {
                    "template": template.name,
                    "language": language,
                    "time_zone": zone,
                    "format": template.format,
                    "text": rendered.formatted.text,
                    "entities": rendered.formatted.entities_json(),
                    "buttons": [
                        [button.model_dump(exclude_none=True) for button in row] for row in buttons
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_OK
    asked = primary_subtag(args.lang)
    fallback = f" (it has no [{asked}])" if asked is not None and asked != language else ""
    in_zone = f", time zone {zone}" if zone else ""
    print(f"{template.name} [{language}]{fallback}, format {template.format}{in_zone}")
    print("---")
    print(rendered.formatted.text)
    print("---")
    print(_entities(rendered.formatted))
    print(_buttons(buttons))
    return EXIT_OK


def _templates_dir(given: Path | None, configured: Path | None = None) -> Path:
    """`given`, else TEMPLATES_DIR (read from the environment when not passed in)."""
    if given is not None:
        return given
    if configured is None:
        configured = environment.settings(require_token=False).templates_dir
    if configured is None:
        raise ConfigError("TEMPLATES_DIR is not set: give the templates' directory")
    return configured


def _load(directory: Path) -> Templates:
    """The templates in `directory`, checked as at the bot's start-up; ValueError (one line:
    file, language, line) for the first the bot would refuse."""
    from bot.templates.files import load_templates  # noqa: PLC0415 - LAZY, see bot.cli

    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    return load_templates(directory)


def _json_object(value: str) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {_json_kind(data)}")
    return data


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a boolean" if isinstance(value, bool) else "a number"


def _entities(formatted: Formatted) -> str:
    """Each entity with the text it covers (offsets and lengths in UTF-16 code units, as
    Telegram counts them)."""
    if not formatted.entities:
        return "entities: none"
    units = formatted.text.encode("utf-16-le")
    lines = ["entities:"]
    for entity in formatted.entities:
        covered = units[2 * entity.offset : 2 * (entity.offset + entity.length)]
        extra = "".join(
            f", {name} {value}"
            for name, value in (("url", entity.url), ("language", entity.language))
            if value
        )
        lines.append(
            f"  {entity.type}: offset {entity.offset}, length {entity.length}{extra}: "
            f"{covered.decode('utf-16-le')!r}"
        )
    return "\n".join(lines)


def _buttons(rows: list[list[Button]]) -> str:
    if not rows:
        return "buttons: none"
    lines = ["buttons:"]
    for number, row in enumerate(rows, start=1):
        shown = "  ".join(
            f"[{button.text}] "
            + (f"url {button.url}" if button.url is not None else f"action {button.action}")
            for button in row
        )
        lines.append(f"  row {number}: {shown}")
    return "\n".join(lines)
