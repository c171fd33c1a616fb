"""The Jinja2 environment templates render in: the immutable sandbox, strict undefined, and a
budget that bounds a render's time and size, which the sandbox alone does not (FACTS: a loop
over data runs as long as the data is long; "x" * 10**9 or s.zfill(10**9) fills memory in one
step)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sized
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from bot.templates.filters import Reader

# A render may cost the event loop at most this long (CPU time of its thread): the bound a
# payload parsed on the loop has (bot.pipeline.parsing: ~4 ms for the worst 256 bytes of
# Markdown). The clock is read at every step, so a render stops within one step of it.
RENDER_SECONDS = 0.004
# Steps: a block entered (a loop's every turn, a branch taken) and an item a filter goes
# through (map, join, sort, ...). A legit template takes tens or hundreds.
MAX_STEPS = 20_000
# `**` beyond this exponent is refused before it runs: 9 ** 99999999 would take minutes.
MAX_EXPONENT = 64
# Jinja's own filters that make sense in a chat message and whose cost the budget bounds. Left
# out: safe, escape and urlize (markup is the template's, values are placeholders), format,
# center, indent, slice and wordwrap (a width or a count that makes work of its own).
JINJA_FILTERS = frozenset(
    {
        "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "first", "float",
        "groupby", "int", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
        "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper",
        "wordcount",
    }
)  # fmt: skip


class RenderLimit(Exception):
    """The render went over its budget (time, steps, size); `str` says which."""


class _Ticking(CodeGenerator):
    """Compiles every block (a loop's body, a branch) to start with a tick of the budget, and
    every `~` to a size check: no loop over data escapes the budget, and no string doubles
    itself past it."""

    def blockvisit(self, nodes_: Any, frame: Frame) -> None:
        self.writeline("environment.tick()")
        super().blockvisit(nodes_, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's name
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class Budget:
    """What one render may still spend. Renders are synchronous and one at a time (the event
    loop's thread), so the environment holds the current one."""

    def __init__(self, max_chars: int, seconds: float = RENDER_SECONDS) -> None:
        self.deadline = time.perf_counter() + seconds
        self.seconds = seconds
        self.started_cpu = time.thread_time()
        self.steps = 0
        self.chars_left = max_chars
        self.max_chars = max_chars

    def tick(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise RenderLimit(f"over {MAX_STEPS} steps (loop turns and items filtered)")
        if time.perf_counter() > self.deadline:
            # The wall clock passed: what counts is the time this thread ran. On a busy
            # machine the process may have waited for a core (a render of 0.1 ms refused
            # because another process ran is a notification lost for nothing).
            spent = time.thread_time() - self.started_cpu
            if spent > self.seconds:
                raise RenderLimit(f"took over {self.seconds * 1000:g} ms, the limit")
            self.deadline = time.perf_counter() + (self.seconds - spent)

    def spend(self, chars: int) -> None:
        self.chars_left -= chars
        if self.chars_left < 0:
            raise RenderLimit(
                f"over {self.max_chars} characters (MESSAGE_MAX_CHARS) of values alone"
            )
        self.tick(0)

    def sized(self, length: int) -> None:
        if length > self.max_chars:
            raise RenderLimit(f"a value {length} long, over MESSAGE_MAX_CHARS")


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (no list.pop() on the data a fan-out's renders share) with
    StrictUndefined (a missing value is an error, never an empty string), a budget per render,
    and every operation that could grow a value checked before it runs."""

    code_generator_class = _Ticking
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.budget = Budget(0)
        # range and dict only: lipsum, cycler, joiner and namespace have no use in a chat
        # message, and every global is copied into each render's context.
        self.globals = {"range": self._range, "dict": dict}
        self.reader = Reader("en", ZoneInfo("UTC"))  # whom the render in progress is for
        kept = {name: self.filters[name] for name in JINJA_FILTERS}
        self.filters = {name: self._budgeted(name, f) for name, f in kept.items()}
        # The reader's filters take the context: Jinja folds a filter of constants when it
        # compiles the template, and would format `{{ 4.95|currency }}` once, in English.
        self.filters["date"] = pass_context(lambda _c, v, f="medium": self.reader.date(v, f))
        self.filters["time"] = pass_context(lambda _c, v, f="short": self.reader.time(v, f))
        self.filters["datetime"] = pass_context(
            lambda _c, v, f="medium": self.reader.datetime(v, f)
        )
        self.filters["number"] = pass_context(
            lambda _c, v, decimals=None: self.reader.number(v, decimals)
        )
        self.filters["currency"] = pass_context(
            lambda _c, v, code="EUR": self.reader.currency(v, code)
        )

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a dict, not Jinja's ChainMap over the environment's: every
        render copies them into its context, and a ChainMap iterated twice a render cost ~1 us
        of a render's ~10. The environment's globals never change once it is made."""
        return {**self.globals, **(d or {})}

    def tick(self) -> None:
        self.budget.tick()

    def sized(self, value: Any) -> Any:
        self.budget.sized(len(value))
        return value

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > MAX_STEPS:
            raise RenderLimit(f"a range of {len(numbers)} (at most {MAX_STEPS})")
        return numbers

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise RenderLimit(f"an exponent of {right} (at most {MAX_EXPONENT})")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    self.budget.sized(len(sequence) * count)
        if operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, Sized):
            self.budget.sized(len(left) + len(right))
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, *args: Any, **kwargs: Any) -> Any:
        # A method of a value (s.zfill(10**9), s.center, s.replace("", s)) grows it in C, in
        # one step: refused before it runs when what it could make is over the limit.
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if name in ("format", "format_map"):  # the sandbox wraps str.format: no __self__
            raise RenderLimit("str.format is not available in a template: use ~ to join values")
        _check_growth(self.budget, owner, name, args)
        self.budget.tick()
        return super().call(context, obj, *args, **kwargs)

    def _budgeted(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """Jinja's filter `name`, counting each item it goes through as a step and refusing
        an argument that would make its result over the limit."""
        passed = _PassArg.from_obj(function)
        first = 0 if passed is None else 1  # the value comes after a context, if it takes one

        @functools.wraps(function)
        def budgeted(*args: Any, **kwargs: Any) -> Any:
            values = list(args)
            value = values[first]
            _check_growth(self.budget, value, name, values[first + 1 :])
            if isinstance(value, Sized):
                self.budget.tick(len(value))
            elif isinstance(value, Iterator):
                values[first] = self._ticking(value)
            return function(*values, **kwargs)

        return budgeted

    def _ticking(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.budget.tick()
            yield item


def _check_growth(budget: Budget, value: object, name: str, args: Iterable[Any]) -> None:
    """RenderLimit when `value.name(*args)` (a str method, or the filter of that name) could
    make something longer than the output may be."""
    if not isinstance(value, str):
        return
    limit = budget.max_chars
    for argument in args:
        if isinstance(argument, int) and not isinstance(argument, bool) and argument > limit:
            raise RenderLimit(f"{name}({argument}): over MESSAGE_MAX_CHARS")
    arguments = list(args)
    if name == "replace" and len(arguments) >= 2:
        old, new = str(arguments[0]), str(arguments[1])
        count = value.count(old) if old else len(value) + 1
        budget.sized(len(value) + count * max(0, len(new) - len(old)))
