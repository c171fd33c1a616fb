"""Logging set-up: structlog and the standard library rendered by one pipeline, secrets redacted."""

from __future__ import annotations

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
        return LINK_TOKEN_IN_TEXT.sub(rf"\1{REDACTED}", line)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace bot tokens and the given literal secrets in `text`."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return TOKEN_IN_TEXT.sub(REDACTED, text)


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
    handler = logging.StreamHandler(stream)
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
