"""The Jinja2 environment templates render in: the sandbox, strict undefined, and a budget that
bounds a render's time and output, which the sandbox alone does not (FACTS: a loop over data
runs as long as the data is long)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import SandboxedEnvironment

from bot.templates.filters import Reader

# A render may cost the event loop at most this long: the bound a payload parsed on the loop
# has (bot.pipeline.parsing: ~4 ms for the worst 256 bytes of Markdown).
RENDER_SECONDS = 0.004
# Blocks entered (a loop's every turn, a macro's every call, a branch taken): a legit template
# enters tens; checking the clock on every one would cost more than most renders.
MAX_STEPS = 20_000
CLOCK_EVERY = 64  # steps between looks at the clock
# `**` beyond this exponent, and `*` making a string or list longer than the output may be,
# are refused before they run: 9**9**9 or "x" * 10**9 would stall or fill memory in one step.
MAX_EXPONENT = 64


class RenderLimit(Exception):
    """The render went over its budget (time, steps, output or nesting); `str` says which."""


class _Ticking(CodeGenerator):
    """Compiles every block (a loop's body, a macro's, a branch) to start with a tick of the
    budget: no loop over data escapes it, whatever the template does inside."""

    def blockvisit(self, nodes_: Any, frame: Frame) -> None:
        self.writeline("environment.tick()")
        super().blockvisit(nodes_, frame)


class Budget:
    """What one render may still spend. Renders are synchronous and one at a time (the event
    loop's thread), so the environment holds the current one."""

    def __init__(self, max_chars: int, seconds: float = RENDER_SECONDS) -> None:
        self.deadline = time.perf_counter() + seconds
        self.cpu_deadline = time.thread_time() + seconds
        self.seconds = seconds
        self.steps = 0
        self.chars_left = max_chars
        self.max_chars = max_chars

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise RenderLimit(f"over {MAX_STEPS} steps (loop turns and macro calls)")
        if self.steps % CLOCK_EVERY == 0 and self._over_time():
            raise RenderLimit(f"took over {self.seconds * 1000:g} ms, the limit")

    def spend(self, chars: int) -> None:
        self.chars_left -= chars
        if self.chars_left < 0:
            raise RenderLimit(
                f"over {self.max_chars} characters (MESSAGE_MAX_CHARS) of values alone"
            )
        if self._over_time():
            raise RenderLimit(f"took over {self.seconds * 1000:g} ms, the limit")

    def _over_time(self) -> bool:
        """Over the time the render may cost: what its thread spent, not the wall clock's, as a
        render set aside while other processes ran cost nothing meanwhile (a busy machine: the
        bench on two shared cores had 13 of 10,000 refused so). The wall clock is looked at
        first: it is 50 ns where the thread's CPU time is 600 ns, and never the lesser."""
        return time.perf_counter() > self.deadline and time.thread_time() > self.cpu_deadline


class Sandbox(SandboxedEnvironment):
    """The sandboxed environment with StrictUndefined (a missing value is an error, never an
    empty string), a budget per render, and `*` and `**` checked before they run."""

    code_generator_class = _Ticking
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.budget = Budget(0)
        # range and dict only: lipsum, cycler, joiner and namespace have no use in a chat
        # message, and every global is copied into each render's context.
        self.globals = {name: self.globals[name] for name in ("range", "dict")}
        self.reader = Reader("en", ZoneInfo("UTC"))  # whom the render in progress is for
        # The reader's filters, looked up when they run: one environment serves every reader.
        self.filters["date"] = lambda value, form="medium": self.reader.date(value, form)
        self.filters["time"] = lambda value, form="short": self.reader.time(value, form)
        self.filters["datetime"] = lambda value, form="medium": self.reader.datetime(value, form)
        self.filters["number"] = lambda value, decimals=None: self.reader.number(value, decimals)
        self.filters["currency"] = lambda value, code="EUR": self.reader.currency(value, code)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a dict, not Jinja's ChainMap over the environment's: every
        render copies them into its context, and a ChainMap iterated twice a render cost ~1 us
        of a render's ~10. The environment's globals never change once it is made."""
        return {**self.globals, **(d or {})}

    def tick(self) -> None:
        self.budget.tick()

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise RenderLimit(f"an exponent of {right} (at most {MAX_EXPONENT})")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    size = len(sequence) * count
                    if size > self.budget.max_chars:
                        raise RenderLimit(f"a repetition {size} long")
        return super().call_binop(context, operator, left, right)
