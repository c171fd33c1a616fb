"""Logging set-up: structlog and the standard library rendered by one pipeline, secrets redacted."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

import structlog
from structlog.typing import Processor

# python-telegram-bot puts the token in every request URL (".../bot123:ABC/getUpdates"), and httpx
# logs those URLs; redacting the rendered line is the backstop that catches every path.
TOKEN_IN_TEXT = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
# Part of every TOKEN_IN_TEXT match, found ten times faster (a literal first): most lines have
# none, and a log line per notification must be cheap.
TOKEN_HINT = re.compile(r":[A-Za-z0-9_-]{20}")
REDACTED = "[REDACTED]"
# A deep link's token: whoever holds an unused one can link their chat to that user. It appears
# in links (?start=...) and in the /start message python-telegram-bot logs at DEBUG (also
# form-encoded: %2Fstart+...).
LINK_TOKEN_IN_TEXT = re.compile(
    # A link, ?start=<token>, URL-encoded or not ("restart=" is not one; "%3Fstart=" is).
    r"((?<!(?-i:[a-z]))(?:start|startgroup)(?:=|%3D)"
    # /start <token>, the space written any way a log line may escape it.
    r"|(?:/|%2F)start(?:@\w+)?(?:\s|\\+[nrt]|\\+u00a0|%20|%09|\+)+)"
    r"[A-Za-z0-9_-]{8,64}",
    re.IGNORECASE,  # Telegram matches commands case-insensitively: /START <token> links too
)

# Libraries that log each HTTP request or Redis command: useful only when debugging.
CHATTY_LOGGERS = ("httpx", "httpcore", "telegram.Bot", "telegram.request", "redis")


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """A ProcessorFormatter whose finished lines (tracebacks included) never carry a secret."""

    def __init__(self, *args: object, secrets: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        # Link tokens too, but only in logs: an admin's /link reply must keep its link.
        line = redact(super().format(record), self._secrets)
        # Every match holds "start" in some case (casefold: the long s folds to s); look first,
        # as the regex costs 25 times more and most lines have no "start".
        if "start" not in line.casefold():
            return line
        return LINK_TOKEN_IN_TEXT.sub(rf"\1{REDACTED}", line)


class FlushPerTurn(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that flushes once per turn of the event loop rather than after every
    line: a burst of notifications logs a line each, and a flush per line was a write system
    call per line (5 % of the bot's CPU in a burst). Every line is still out within one turn
    of the loop, a line logged outside the loop (another thread, start-up) at once, and what
    is left at exit by logging's own shutdown."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._flush_due = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - what logging.StreamHandler does
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_due = False
        self.flush()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace bot tokens and the given literal secrets in `text`."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return TOKEN_IN_TEXT.sub(REDACTED, text) if TOKEN_HINT.search(text) else text


def configure_logging(
    level: str = "INFO",
    fmt: str | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    *,
    cache_loggers: bool = True,
) -> None:
    """Route structlog and stdlib logging through one renderer writing to `stream` (stdout).

    `fmt` is "json" or "console"; None picks console on a terminal and JSON otherwise.
    `cache_loggers=False` keeps structlog reconfigurable afterwards (tests).
    """
    stream = stream or sys.stdout
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if fmt == "json":
        # show_locals=False: frame locals hold request URLs and would put the token in the JSON.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer()
        final: list[Processor] = [tracebacks, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(),  # no escape codes in a file or a pipe
            exception_formatter=structlog.dev.plain_traceback,
        )
        final = [renderer]

    formatter = RedactingFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        secrets=secrets,
    )
    # Nothing we render reads the caller's file and line, thread or process: the standard
    # library's documented switches skip finding them for every record (a sixth of a line).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = FlushPerTurn(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
