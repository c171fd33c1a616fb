"""Rendering one template for one reader: the text as the chat shows it and the buttons, with
every value from `data` landing literally, whatever it contains.

A value is never parsed as markup. The template is rendered with each printed value replaced by
a placeholder (a random word, new for each render), the template's own HTML or Markdown is read
with the placeholders in it, and then the values take their places in the text, the entities
moved to match (UTF-16 offsets), and percent-encoded in a link's URL. So `<b>`, `&`, `*`, `_`
or a backtick in a value arrive as typed, in code spans too, and no escaping can be forgotten.
"""

from __future__ import annotations

import gc
import re
import secrets
from bisect import bisect_right
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError, UndefinedError

from bot.formatting.entities import Entity, Formatted, strip, utf16_len
from bot.formatting.html import html_to_formatted
from bot.formatting.markdown import markdown_to_formatted
from bot.templates.filters import Reader, ValueTypeError
from bot.templates.sandbox import Budget, RenderLimit, Sandbox

# A placeholder: a word of letters and digits, which neither HTML nor Markdown reads as
# markup, with a nonce new for each render, so that no text can forge one.
_PLACEHOLDER = re.compile(r"tplv([0-9a-f]{12})x([0-9]+)x")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 units each (most emoji)
_UNDEFINED = re.compile(r"'([^']+)' is undefined")
_NO_ATTRIBUTE = re.compile(r"has no attribute '([^']*)'")


class RenderError(ValueError):
    """Why a template did not render, in one line naming the value or limit: "data.eta:
    missing"."""


# A compiled template, or a string with nothing to render (most labels): kept as it is.
Source = JinjaTemplate | str


class ButtonSource(NamedTuple):
    """One button of a template, compiled: its label, and its url or action."""

    text: Source
    url: Source | None
    action: Source | None


class RenderedButton(NamedTuple):
    text: str
    url: str | None
    action: str | None


class Rendered(NamedTuple):
    formatted: Formatted
    buttons: tuple[tuple[RenderedButton, ...], ...]


class _Values:
    """The printed values of one render, each standing in the output as a placeholder."""

    def __init__(self, budget: Budget) -> None:
        self.nonce = secrets.token_hex(6)
        self.values: list[str] = []
        self._budget = budget

    def placeholder(self, value: object) -> str:
        text = str(value)  # a StrictUndefined raises here: a missing value
        self._budget.spend(len(text))
        self.values.append(text)
        return f"tplv{self.nonce}x{len(self.values) - 1}x"

    def value(self, match: re.Match[str]) -> str | None:
        """The value a placeholder stands for; None for a word that only looks like one."""
        if match[1] != self.nonce:
            return None
        return self.values[int(match[2])]


class Renderer:
    """Renders templates in one sandboxed environment (see bot.templates.sandbox)."""

    def __init__(self) -> None:
        self.environment = Sandbox()
        self._finalize: Callable[[object], object] = str
        self.environment.finalize = self._final

    def _final(self, value: object) -> object:
        return self._finalize(value)

    def render(
        self,
        kind: str,
        message: Source,
        buttons: tuple[tuple[ButtonSource, ...], ...],
        *,
        data: Mapping[str, Any],
        reader: Reader,
        max_chars: int,
    ) -> Rendered:
        """The message (read as `kind`: text, html or markdown) and the buttons for `reader`;
        RenderError naming what is missing, of the wrong type, or over a limit."""
        with _Uncollected():
            budget = Budget(max_chars)
            self.environment.budget = budget
            self.environment.reader = reader
            try:
                values = _Values(budget)
                self._finalize = values.placeholder
                source = self._run(message, data)
                formatted = _with_values(_read(kind, source), values)
                check_no_placeholder(formatted, values, "message")
                rows = tuple(
                    tuple(self._button(button, data, budget) for button in row) for row in buttons
                )
            finally:
                self._finalize = str
        return Rendered(formatted, rows)

    def render_plain(self, template: Source, data: Mapping[str, Any], reader: Reader) -> str:
        """One string as is (a button's label, an action): values are not escaped, as nothing
        reads markup in it."""
        with _Uncollected():
            self.environment.reader = reader
            self.environment.budget = Budget(4096)
            return self._run(template, data)

    def _button(
        self, button: ButtonSource, data: Mapping[str, Any], budget: Budget
    ) -> RenderedButton:
        self._finalize = str
        text = self._run(button.text, data)
        url = action = None
        if button.url is not None:
            self._finalize = _percent_encoded
            url = self._run(button.url, data)
            self._finalize = str
        if button.action is not None:
            action = ""  # rendered once per notification, in its first language (an action
            # is what the web app reads back): bot.pipeline.templating
        try:
            budget.spend(len(text) + len(url or "") + len(action or ""))
        except RenderLimit as exc:  # outside _run: a render's, not a crash
            raise RenderError(f"render stopped: {exc}") from None
        return RenderedButton(text, url, action)

    def _run(self, template: Source, data: Mapping[str, Any]) -> str:
        if isinstance(template, str):
            return template
        try:
            return template.render(data)
        except UndefinedError as exc:
            raise RenderError(_missing(str(exc))) from None
        except ValueTypeError as exc:
            raise RenderError(f"{_path_of(exc.value, data)}: {exc}") from None
        except RenderLimit as exc:
            raise RenderError(f"render stopped: {exc}") from None
        except RecursionError:
            raise RenderError("render stopped: nested too deeply") from None
        except SecurityError as exc:
            raise RenderError(f"not allowed in a template: {exc}") from None
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - any other is the data's doing: invalid, named
            # TypeError, AttributeError (dictsort of a list), FilterArgumentError, ...
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RenderError(f"a value of the wrong type: {reason[:200]}") from None


class _Uncollected:
    """No garbage collection during a render: a full one that fell into it (15-47 ms, measured
    in the bench's bot with thousands of notifications in flight) went over the render's time
    budget and refused a template that renders in 0.1 ms. It runs after instead, at the next
    allocation that finds it due; what a render allocates is bounded by its budget. A class,
    not @contextmanager: a generator per render cost 1-2 us of the ~50 a render takes."""

    __slots__ = ("_was",)

    def __enter__(self) -> None:
        self._was = gc.isenabled()  # disabled: someone else's choice, left as it is
        gc.disable()

    def __exit__(self, *_exc: object) -> None:
        if self._was:
            gc.enable()


def _percent_encoded(value: object) -> str:
    return quote(str(value), safe="")


def _read(kind: str, source: str) -> Formatted:
    try:
        if kind == "html":
            return html_to_formatted(source)
        if kind == "markdown":
            return markdown_to_formatted(source)
    except ValueError as exc:  # the template's own markup: start-up checks catch most
        raise RenderError(f"message: {exc}") from None
    return Formatted(source)


def _with_values(formatted: Formatted, values: _Values) -> Formatted:
    """`formatted` with each placeholder replaced by its value: in the text (entities moved and
    grown to match) and, percent-encoded, in a link's URL."""
    text = formatted.text

    def value_of(match: re.Match[str]) -> str:
        value = values.value(match)
        return match[0] if value is None else value

    if not formatted.entities:
        return strip(_PLACEHOLDER.sub(value_of, text), [])
    # Offsets count UTF-16 units; without characters beyond the BMP that is the length.
    astral = _ASTRAL.search(text) or any(_ASTRAL.search(value) for value in values.values)
    units = utf16_len if astral else len
    pieces: list[str] = []
    # (UTF-16 offset where a placeholder ended in the old text, growth so far) to move offsets
    shifts: list[tuple[int, int]] = []
    at = old_units = growth = 0
    for match in _PLACEHOLDER.finditer(text):
        value = values.value(match)
        if value is None:
            continue
        before = text[at : match.start()]
        pieces += (before, value)
        token = match.end() - match.start()  # ASCII: its length in any unit
        old_units += units(before) + token
        growth += units(value) - token
        shifts.append((old_units, growth))
        at = match.end()
    pieces.append(text[at:])

    ends = [end for end, _ in shifts]

    def moved(offset: int) -> int:
        # An offset at or after a placeholder's end moves by the growth up to there.
        passed = bisect_right(ends, offset)
        return offset + (shifts[passed - 1][1] if passed else 0)

    entities = []
    for entity in formatted.entities:
        start, end = moved(entity.offset), moved(entity.offset + entity.length)
        url, language = entity.url, entity.language
        if url is not None:
            url = _link_with_values(url, values)
        if language:
            language = _PLACEHOLDER.sub(value_of, language)
        if end > start:  # an entity around an empty value: Telegram refuses empty ones
            entities.append(Entity(entity.type, start, end - start, url, language))
    return strip("".join(pieces), entities)


def _link_with_values(url: str, values: _Values) -> str:
    """A link of the template's with its values in, percent-encoded; RenderError when a value
    stands in its scheme or host (the link's destination is the template's, never the data's)."""
    first = next((m for m in _PLACEHOLDER.finditer(url) if values.value(m) is not None), None)
    if first is None:
        return url
    if first.start() < authority_end(url):
        raise RenderError("a value in a link's scheme or host: put values after the host's /")

    def encoded(match: re.Match[str]) -> str:
        value = values.value(match)
        return match[0] if value is None else _percent_encoded(value)

    return _PLACEHOLDER.sub(encoded, url)


def authority_end(url: str) -> int:
    """Where a link's scheme and host end: the first /, ? or # after "scheme://" (or after
    "scheme:"), else its end. What comes before is where a link goes."""
    start = url.find("://")
    start = start + 3 if start >= 0 else url.find(":") + 1
    ends = [at for at in (url.find(c, start) for c in "/?#") if at >= 0]
    return min(ends) if ends else len(url)


def check_no_placeholder(formatted: Formatted, values: _Values, where: str) -> None:
    """RenderError when a value's placeholder is still there once the values are in: it went
    through something that changed it (a filter applied to a whole block)."""
    texts = [formatted.text, *(e.url or "" for e in formatted.entities)]
    if any(values.nonce in text.lower() for text in texts):
        raise RenderError(f"{where}: a value went through something that changed it")


def _missing(message: str) -> str:
    undefined = _UNDEFINED.search(message)
    if undefined:
        return f"data.{undefined.group(1)}: missing"
    attribute = _NO_ATTRIBUTE.search(message)
    if attribute:
        return f"data: missing {attribute.group(1)!r} (in a value)"
    return f"data: missing ({message})"


def _path_of(value: object, data: Mapping[str, Any], limit: int = 2000) -> str:
    """Where `value` is in `data` ("data.items[2].price"), found by identity; "data" if not."""
    stack: list[tuple[str, object]] = [("data", data)]
    seen = 0
    while stack and seen < limit:
        path, node = stack.pop()
        seen += 1
        if node is value and path != "data":
            return path
        if isinstance(node, dict):
            stack += [(f"{path}.{key}", item) for key, item in node.items()]
        elif isinstance(node, list):
            stack += [(f"{path}[{index}]", item) for index, item in enumerate(node)]
    return "data"
