"""Logging set-up: structlog and the standard library rendered by one pipeline, secrets redacted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

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
# in links (?start=..., ?startgroup=...), in the /start message python-telegram-bot logs at
# DEBUG (also form-encoded: %2Fstart+...) and in a channel's /link post.
LINK_TOKEN_IN_TEXT = re.compile(
    # A link, ?start=<token>, URL-encoded or not ("restart=" is not one; "%3Fstart=" is).
    r"((?<!(?-i:[a-z]))(?:start|startgroup)(?:=|%3D)"
    # /start <token> or /link <token>, the space written any way a log line may escape it.
    r"|(?:/|%2F)(?:start|link)(?:@\w+)?(?:\s|\\+[nrt]|\\+u00a0|%20|%09|\+)+)"
    r"[A-Za-z0-9_-]{8,64}",
    re.IGNORECASE,  # Telegram matches commands case-insensitively: /START <token> links too
)

# What a chat user sends reaches python-telegram-bot's DEBUG lines whatever its shape: a link
# token pasted alone, quoted, after other words or a zero-width space is refused as a command
# yet stays valid for a day. In those lines any run of 43 or more token characters (a token's
# length) goes, and so does an action button's key in callback data ("a:<key>:<index>").
TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_-]{43,}")
ACTION_KEY_IN_DATA = re.compile(r"(?<![A-Za-z0-9_-])(a:)[A-Za-z0-9_-]{12}(?=:\d)")

# Libraries that log each HTTP request or Redis command: useful only when debugging.
CHATTY_LOGGERS = ("httpx", "httpcore", "telegram.Bot", "telegram.request", "redis")


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """A ProcessorFormatter whose finished lines (tracebacks included) never carry a secret:
    the other libraries' records."""

    def __init__(self, *args: object, secrets: Iterable[str] = (), **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record), self._secrets)


def scrub(line: str, secrets: Iterable[str]) -> str:
    """A finished log line without bot tokens, `secrets`, or deep-link tokens (those only in
    logs: an admin's /link reply must keep its link)."""
    line = redact(line, secrets)
    # Every match holds "start" or "link" in some case (casefold: the long s folds to s); look
    # first, as the regex costs 25 times more and most lines have neither.
    folded = line.casefold()
    if "start" not in folded and "link" not in folded:
        return line
    return LINK_TOKEN_IN_TEXT.sub(rf"\1{REDACTED}", line)


# How long a line logged in the event loop may wait in the buffer for others to join it.
FLUSH_AFTER = 0.05


class FlushSoon(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that flushes at most every FLUSH_AFTER seconds rather than after every
    line: a burst of notifications logs a line each, and a flush per line was a write system
    call per line (5 % of the bot's CPU in a burst; once per turn of the event loop, still 4 %).
    A line logged in the event loop is out within FLUSH_AFTER (no timer runs while nothing
    waits), one logged outside it (another thread, start-up, shutdown) at once, and what is
    left at exit by logging's own shutdown."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        # The loop a flush is due on: a loop that closed before it ran is not waited for.
        self._due_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - what logging.StreamHandler does
            self.handleError(record)
            return
        self.write_line(line)

    def write_line(self, line: str) -> None:
        """Write a line rendered elsewhere (structlog's), under the same lock and flushing."""
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(line + self.terminator)
            except (OSError, ValueError):  # stdout gone: a log line is not worth a crash
                return
        self._flush_soon()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush_now()
            return
        if self._due_on is not loop:
            self._due_on = loop
            loop.call_later(FLUSH_AFTER, self._flush_now)

    def _flush_now(self) -> None:
        self._due_on = None
        # stdout gone (a closed pipe): not a crash for the code that logged.
        with contextlib.suppress(OSError, ValueError):
            self.flush()


class LineLogger:
    """What structlog hands each finished line to: the shared handler, without a LogRecord or
    a second rendering per line (a third of a line's cost). Named after its module, for the
    `logger` field."""

    def __init__(self, handler: FlushSoon, name: str) -> None:
        self._handler = handler
        self.name = name

    def msg(self, line: str) -> None:
        self._handler.write_line(line)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


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
    color: bool = True,
    report: Processor | None = None,
) -> None:
    """Render structlog's events and the other libraries' log records in one format to
    `stream` (stdout): ours go straight from structlog's processors to the stream, the others
    through the standard library's logging with the same processors.

    `fmt` is "json" or "console"; None picks console on a terminal and JSON otherwise.
    `cache_loggers=False` keeps structlog reconfigurable afterwards (tests). `report` sees
    every event before it is rendered, ours and the libraries' (Sentry's, bot.config.sentry);
    None: no such step at all.
    """
    stream = stream or sys.stdout
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    reporting = [report] if report is not None else []
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
            colors=color and stream.isatty(),  # no escape codes in a file, a pipe or NO_COLOR
            exception_formatter=structlog.dev.plain_traceback,
        )
        final = [renderer]

    secrets = [secret for secret in secrets if secret]
    formatter = RedactingFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _scrub_chatter, *reporting],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        secrets=secrets,
    )
    # Nothing we render reads the caller's file and line, thread or process: the standard
    # library's documented switches skip finding them for every record (a sixth of a line).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = FlushSoon(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            *reporting,
            *final,
            _scrubbing(secrets),
        ],
        logger_factory=lambda name="", *_: LineLogger(handler, name),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        cache_logger_on_first_use=cache_loggers,
    )


def _scrub_chatter(_logger: object, _name: str, event_dict: Any) -> Any:
    """The libraries' DEBUG lines without token-shaped runs and action keys: on the message as
    written, before it is rendered (in rendered JSON a run could start inside a \\u escape and
    break the line)."""
    event = event_dict.get("event")
    if event_dict.get("level") == "debug" and isinstance(event, str):
        event = TOKEN_SHAPED.sub(REDACTED, event)
        event_dict["event"] = ACTION_KEY_IN_DATA.sub(rf"\1{REDACTED}", event)
    return event_dict


def _scrubbing(secrets: list[str]) -> Processor:
    """The last processor: it gets the rendered line, not an event dict."""

    def scrub_line(_logger: object, _name: str, line: Any) -> Any:
        return scrub(line, secrets)

    return scrub_line
