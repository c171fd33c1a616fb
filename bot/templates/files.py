"""The operator's templates: TEMPLATES_DIR holds one TOML file per template, a table per
language. Read and checked once, at start-up (and by `python -m bot templates check`): a
template that cannot render in every language stops the start, naming file, language and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes

from bot.formatting.entities import check_link
from bot.notification.schema import MAX_BUTTONS, Format
from bot.preferences import CATEGORY_NAME, primary_subtag
from bot.templates.filters import NAMES as OUR_FILTERS
from bot.templates.filters import TIME_FILTERS, warm
from bot.templates.render import ButtonSource, Renderer, Source, authority_end
from bot.templates.sandbox import JINJA_FILTERS

TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
LANGUAGE = re.compile(r"[a-z]{2,3}")  # a primary language subtag: "de", not "de-AT"
FORMATS = ("text", "html", "markdown")
TOP_LEVEL = frozenset({"format", "category"})
KNOWN_FILTERS = JINJA_FILTERS | OUR_FILTERS


class TemplateFileError(ValueError):
    """A template that cannot be used: `str` names the file, the language and the line."""

    def __init__(
        self, path: Path, reason: str, language: str | None = None, line: int | None = None
    ):
        where = (
            path.name + (f" [{language}]" if language else "") + (f" line {line}" if line else "")
        )
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Localized:
    """One language's table, compiled."""

    message: Source
    buttons: tuple[tuple[ButtonSource, ...], ...]
    source: str  # the message's source, for `templates render`


@dataclass(frozen=True)
class Template:
    """One template file: its format and default category, and a table per language in the
    order of the file (the first is the one of last resort)."""

    name: str
    path: Path
    format: Format
    category: str | None
    languages: dict[str, Localized]
    variables: frozenset[str]  # what `data` must name (every language uses the same names)
    formats_times: bool  # uses date, time or datetime: renders per time zone too
    actions: tuple[str, ...] = ()  # the action buttons' sources, the same in every language
    optional: frozenset[str] = frozenset()  # guarded (`is defined`, `default`): may be left out

    def language_for(self, *candidates: str | None) -> str:
        """The first of `candidates` (IETF tags: "de-AT" counts as "de") this template has,
        else its first language."""
        for candidate in candidates:
            primary = primary_subtag(candidate)
            if primary is not None and primary in self.languages:
                return primary
        return next(iter(self.languages))

    def manifest(self) -> dict[str, Any]:
        """What the web app may know of it (written to Redis for the publisher)."""
        return {
            "languages": list(self.languages),
            "variables": sorted(self.variables),
            "optional": sorted(self.optional),
            "format": self.format,
            "category": self.category,
        }


@dataclass(frozen=True)
class Templates:
    """Every template in TEMPLATES_DIR by name (none when it is unset)."""

    by_name: Mapping[str, Template] = field(default_factory=dict)
    renderer: Renderer = field(default_factory=Renderer)

    def __iter__(self) -> Iterator[Template]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> Template | None:
        return self.by_name.get(name)

    @property
    def languages(self) -> frozenset[str]:
        """Every language some template has."""
        return frozenset(language for template in self for language in template.languages)

    def manifest(self) -> dict[str, Any]:
        return {template.name: template.manifest() for template in self}


def load_templates(directory: Path) -> Templates:
    """Every `*.toml` in `directory`, checked; TemplateFileError for the first that is wrong."""
    if not directory.is_dir():
        raise TemplateFileError(directory, "not a directory (TEMPLATES_DIR)")
    renderer = Renderer()
    found = {}
    for path in sorted(directory.glob("*.toml")):
        template = load_template(path, renderer)
        found[template.name] = template
    for language in {language for template in found.values() for language in template.languages}:
        warm(language)
    return Templates(found, renderer)


def load_template(path: Path, renderer: Renderer) -> Template:
    """One template file, checked (see load_templates)."""
    name = path.stem
    if not TEMPLATE_NAME.fullmatch(name):
        raise TemplateFileError(
            path, "a template's name (its file name) is 1-64 of a-z, 0-9, _ and -"
        )
    try:
        text = path.read_text(encoding="utf-8")
        table = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateFileError(path, f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise TemplateFileError(
            path, f"not valid TOML: {exc}", line=int(line.group(1)) if line else None
        ) from None
    kind = table.get("format", "text")
    if kind not in FORMATS:
        raise TemplateFileError(path, f"format: {kind!r} is not text, html or markdown")
    category = table.get("category")
    if category is not None and not (
        isinstance(category, str) and CATEGORY_NAME.fullmatch(category)
    ):
        raise TemplateFileError(path, f"category: {category!r} is not a category name")
    languages: dict[str, Localized] = {}
    variables: dict[str, frozenset[str]] = {}
    actions: dict[str, tuple[str, ...]] = {}
    formats_times = False
    required: frozenset[str] = frozenset()  # what some language needs data to name
    for key, value in table.items():
        if key in TOP_LEVEL:
            continue
        if not isinstance(value, dict):
            raise TemplateFileError(
                path, f"{key!r}: unknown setting (format, category, or a [language] table)"
            )
        if not LANGUAGE.fullmatch(key):
            raise TemplateFileError(
                path, f"[{key}]: a language is a primary subtag such as en or de"
            )
        checked = _Checked(path, key, text, renderer)
        languages[key] = checked.localized(value)
        variables[key] = checked.variables | checked.optional
        required |= checked.variables
        actions[key] = checked.actions
        formats_times = formats_times or checked.formats_times
    if not languages:
        raise TemplateFileError(path, "no language: add a table such as [en] with a message")
    first = next(iter(languages))
    for language in languages:
        _check_alike(path, text, first, language, variables=variables, actions=actions)
    return Template(
        name,
        path,
        kind,
        category,
        languages,
        required,
        formats_times,
        actions[first],
        variables[first] - required,
    )


def _check_alike(
    path: Path,
    text: str,
    first: str,
    language: str,
    *,
    variables: Mapping[str, frozenset[str]],
    actions: Mapping[str, tuple[str, ...]],
) -> None:
    """`language` uses the same variables and actions as the `first` language."""
    if variables[language] != variables[first]:
        extra = sorted(variables[language] - variables[first])
        lacking = sorted(variables[first] - variables[language])
        parts = [
            f"uses {', '.join(extra)}" if extra else "",
            f"lacks {', '.join(lacking)}" if lacking else "",
        ]
        raise TemplateFileError(
            path,
            f"not the same variables as [{first}]: " + "; ".join(part for part in parts if part),
            language,
            _line_of(text, language),
        )
    if actions[language] != actions[first]:
        raise TemplateFileError(
            path,
            f"its buttons' actions differ from [{first}]'s: an action is what the web app "
            "reads back, the same in every language (labels may differ)",
            language,
            _line_of(text, language),
        )


# Blocks whose output passes through Jinja a second time (a macro's, a {% set %} block's, a
# {% filter %}'s): the values' placeholders would be printed as such, or changed.
REFUSED_NODES = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Block,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
)


def _filters_named(node: nodes.Filter) -> list[str]:
    """The filter's name, and the filter `map` applies (`map('time')`), if it names one."""
    named = [node.name]
    if node.name == "map" and node.args and isinstance(node.args[0], nodes.Const):
        named.append(str(node.args[0].value))
    return named


def _optional(tree: nodes.Template) -> frozenset[str]:
    """Variables a template guards (`x is defined`, `x | default(...)`): data may leave them
    out."""
    guarded = set()
    for test in tree.find_all(nodes.Test):
        if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name):
            guarded.add(test.node.name)
    for node in tree.find_all(nodes.Filter):
        if node.name in ("default", "d") and isinstance(node.node, nodes.Name):
            guarded.add(node.node.name)
    return frozenset(guarded)


def _line_of(text: str, language: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.fullmatch(rf"\s*\[\s*{re.escape(language)}\s*\]\s*(#.*)?", line):
            return number
    return None


class _Checked:
    """One language's table, compiled and checked."""

    def __init__(self, path: Path, language: str, text: str, renderer: Renderer) -> None:
        self.path, self.language = path, language
        self.line = _line_of(text, language)
        self.text = text
        self.renderer = renderer
        self.variables: frozenset[str] = frozenset()
        self.optional: frozenset[str] = frozenset()  # under `is defined` or `default`
        self.actions: tuple[str, ...] = ()
        self.formats_times = False

    def fail(self, reason: str, key: str | None = None, lineno: int = 1) -> TemplateFileError:
        """The error, at the line of `key` in this language's table (plus `lineno` - 1 lines
        into its value: where Jinja found it), else at the table's header."""
        line = self.line
        if key is not None and line is not None:
            lines = self.text.splitlines()
            for number in range(line, len(lines)):
                if re.match(r"\s*\[", lines[number]):
                    break  # the next table
                if re.match(rf"\s*{key}\s*=", lines[number]):
                    opens_block = lines[number].rstrip().endswith(('"""', "'''"))
                    line = number + 1 + (lineno - 1) + (1 if opens_block else 0)
                    break
        return TemplateFileError(self.path, reason, self.language, line)

    def localized(self, table: dict[str, Any]) -> Localized:
        unknown = sorted(set(table) - {"message", "buttons"})
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r} (message, buttons)")
        message = table.get("message")
        if not isinstance(message, str) or not message.strip():
            raise self.fail("message: a non-empty string is required", "message")
        compiled = self.compile("message", message, "message")
        rows = table.get("buttons", [])
        if not isinstance(rows, list) or not all(isinstance(row, list) and row for row in rows):
            raise self.fail("buttons: rows (lists) of buttons, none empty", "buttons")
        if sum(len(row) for row in rows) > MAX_BUTTONS:
            raise self.fail(f"buttons: over Telegram's limit of {MAX_BUTTONS}", "buttons")
        buttons = tuple(tuple(self.button(button) for button in row) for row in rows)
        return Localized(compiled, buttons, message)

    def button(self, button: object) -> ButtonSource:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise self.fail("buttons: each is a table with text, and url or action", "buttons")
        unknown = sorted(set(button) - {"text", "url", "action"})
        if unknown:
            raise self.fail(f"buttons: unknown key {unknown[0]!r} (text, url, action)", "buttons")
        url, action = button.get("url"), button.get("action")
        if (url is None) == (action is None) or not isinstance(url or action, str):
            raise self.fail(
                f"button {button['text']!r}: needs either url or action, not both", "buttons"
            )
        if isinstance(url, str):
            # The scheme and host are the template's: values in a URL are percent-encoded.
            literal = url.split("{", 1)[0]
            try:
                check_link(literal if "{" not in url else literal + "x")
            except ValueError as exc:
                raise self.fail(f"button {button['text']!r}: url {exc}", "buttons") from None
            if "{" in url and url.index("{") < authority_end(url):
                raise self.fail(
                    f"button {button['text']!r}: a value in the url's scheme or host (where "
                    "a link goes is the template's: put values after the host's /)",
                    "buttons",
                )
        if isinstance(action, str):
            self.actions += (action,)
        return ButtonSource(
            self.compile("button text", button["text"], "buttons"),
            None if url is None else self.compile("button url", url, "buttons"),
            None if action is None else self.compile("button action", action, "buttons"),
        )

    def compile(self, what: str, source: str, key: str) -> Source:
        """`source` compiled, or as it is when it has nothing to render (a plain label)."""
        environment = self.renderer.environment
        if "{" not in source:
            return source
        try:
            tree = environment.parse(source)
        except TemplateSyntaxError as exc:
            raise self.fail(f"{what}: {exc.message}", key, exc.lineno) from None
        for refused in tree.find_all(REFUSED_NODES):
            raise self.fail(
                f"{what}: {type(refused).__name__.lower()} blocks are not available (a value "
                "must be printed where it lands, with {{ }}); {% set x = ... %} is",
                key,
                refused.lineno,
            )
        for node in tree.find_all(nodes.Filter):
            for name in _filters_named(node):
                if name not in KNOWN_FILTERS:
                    ours = ", ".join(sorted(OUR_FILTERS))
                    raise self.fail(
                        f"{what}: unknown filter {name!r} (ours: {ours})", key, node.lineno
                    )
                self.formats_times = self.formats_times or name in TIME_FILTERS
        names = meta.find_undeclared_variables(tree)
        optional = _optional(tree)
        self.variables |= names - optional
        self.optional |= names & optional
        try:
            return environment.from_string(tree)
        except TemplateSyntaxError as exc:  # found when compiled, e.g. a name assigned badly
            raise self.fail(f"{what}: {exc.message}", key, exc.lineno) from None
