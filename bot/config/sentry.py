"""SENTRY_DSN: errors, dead letters and outages reported to Sentry, scrubbed before they leave."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from bot.config.logging import REDACTED, TOKEN_SHAPED, scrub

if TYPE_CHECKING:
    from structlog.typing import Processor

    from bot.config.settings import Settings

SENTRY_PACKAGE = "sentry_sdk"  # SENTRY_DSN needs it: the [sentry] extra
# Where a message's text travels in our log events (and in a dead letter's payload): blanked.
TEXT_FIELDS = frozenset({"message", "text", "preview", "payload"})
# The events of the outcomes kept as dead letters (bot/pipeline/settle.py's
# DEAD_LETTER_OUTCOMES; a test keeps the two the same). Only notification_failed is an error.
DEAD_LETTER_EVENTS = frozenset(
    {
        "notification_failed",
        "notification_invalid",
        "notification_expired",
        "notification_not_found",
    }
)
# An outage is logged on every attempt to reconnect (bot/loops/reconnect.py's Backoff): its
# first attempt is reported, the rest are the same outage.
OUTAGE_SUFFIX = "_unavailable"
OUTAGE_EVENTS = frozenset({"telegram_unreachable"})
ERROR_LEVELS = {"error": "error", "exception": "error", "critical": "fatal", "fatal": "fatal"}
# What the event dict carries besides its fields: not sent as extra data.
SENTRY_MESSAGE = frozenset({"message", "logentry"})  # a Sentry event's own message
NOT_FIELDS = frozenset({"event", "level", "timestamp", "logger", "exc_info", "stack_info"})
# A stack frame's code location: never a secret, and a function name may be 43 characters of
# token-shaped letters. Everything else in a frame (its local variables) is dropped.
FRAME_LOCATION = frozenset(
    {
        "filename",
        "abs_path",
        "module",
        "function",
        "lineno",
        "colno",
        "in_app",
        "context_line",
        "pre_context",
        "post_context",
        "package",
        "platform",
    }
)


def check_dsn(dsn: str) -> None:
    """ValueError (never echoing the DSN) unless `dsn` has a DSN's shape and sentry-sdk is
    installed."""
    parts = urlsplit(dsn)
    try:
        port = parts.port
    except ValueError:
        port = -1
    project = parts.path.rstrip("/").rpartition("/")[2]
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or not parts.username
        or port == -1
        or not project.isdigit()
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            "must be your Sentry project's DSN, https://<key>@<host>/<project id> "
            "(Sentry: Project Settings, Client Keys)"
        )
    if importlib.util.find_spec(SENTRY_PACKAGE) is None:
        raise ValueError(
            "needs sentry-sdk: pip install 'notify-bot[sentry]' "
            "(on Heroku: add sentry-sdk to requirements.txt)"
        )


def dsn_secrets(dsn: str) -> list[str]:
    """What of a DSN is redacted from logs: the DSN, its key (and a legacy secret key)."""
    parts = urlsplit(dsn)
    keys = [unquote(part) for part in (parts.username, parts.password) if part]
    return [dsn, *keys]


def start(settings: Settings) -> Processor | None:
    """Start reporting to SENTRY_DSN: the structlog processor that reports, for
    configure_logging's `report`; None (and nothing started) when SENTRY_DSN is not set.

    Only harmless integrations: uncaught exceptions (excepthook), dedupe, a flush at exit and
    the installed packages' versions. None that patch aiohttp, Redis, httpx or the standard
    library's logging and threads: nothing on a delivery's path.
    """
    if settings.sentry_dsn is None:
        return None
    import sentry_sdk  # noqa: PLC0415 - an optional extra, imported only when asked for
    from sentry_sdk.integrations.atexit import AtexitIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.dedupe import DedupeIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.modules import ModulesIntegration  # noqa: PLC0415

    dsn = settings.sentry_dsn.get_secret_value()
    # The DSN's key is what Sentry reads the report with (its trace header carries it): it
    # goes out; redacted from the logs only.
    secrets = [secret for secret in settings.secrets if secret not in dsn_secrets(dsn)]
    sentry_sdk.init(
        dsn,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[
            ExcepthookIntegration(),
            DedupeIntegration(),
            AtexitIntegration(),
            ModulesIntegration(),
        ],
        before_send=Scrubber(secrets),
        server_name=settings.stream_consumer,  # the instance's name, e.g. worker.1
        attach_stacktrace=False,  # a report's stack is its exception's, not the log call's
        max_breadcrumbs=0,
        auto_session_tracking=False,
        traces_sample_rate=None,
        **_no_frame_variables(),
    )
    return Reporter(sentry_sdk.capture_message, sentry_sdk.capture_exception)


def _no_frame_variables() -> dict[str, Any]:
    """The option that stops the SDK collecting frames' local variables: its name changed in
    sentry-sdk 3. (Scrubber drops them anyway.)"""
    from sentry_sdk.consts import ClientConstructor  # noqa: PLC0415

    if "data_collection" in inspect.signature(ClientConstructor.__init__).parameters:
        return {"data_collection": {"stack_frame_variables": False}}
    return {"include_local_variables": False}


def reported(event_dict: dict[str, Any]) -> str | None:
    """The Sentry level an event is reported at, None if it is not: errors and worse, dead
    letters, and an outage's first attempt. Never the SDK's own (it would report itself)."""
    if str(event_dict.get("logger", "")).startswith(SENTRY_PACKAGE):
        return None
    level = str(event_dict.get("level", ""))
    if level in ERROR_LEVELS:
        return ERROR_LEVELS[level]
    event = event_dict.get("event")
    if not isinstance(event, str):
        return None
    if event in DEAD_LETTER_EVENTS:
        return "warning"
    outage = event.endswith(OUTAGE_SUFFIX) or event in OUTAGE_EVENTS
    return "warning" if outage and event_dict.get("attempt") == 1 else None


class Reporter:
    """The structlog processor (ours and the other libraries' records alike) that hands what
    `reported` picks to Sentry, with the event's fields as extra data; the event goes on
    unchanged. Added to the chain only when SENTRY_DSN is set."""

    def __init__(
        self, capture_message: Callable[..., object], capture_exception: Callable[..., object]
    ) -> None:
        self._capture_message = capture_message
        self._capture_exception = capture_exception

    def __call__(self, _logger: object, _name: str, event_dict: Any) -> Any:
        level = reported(event_dict)
        if level is not None:
            self._report(event_dict, level)
        return event_dict

    def _report(self, event_dict: dict[str, Any], level: str) -> None:
        name = str(event_dict.get("event", ""))
        fields = {
            key: _plain(value)
            for key, value in event_dict.items()
            if key not in NOT_FIELDS and not key.startswith("_")
        }
        tags = {"event": name, "logger": str(event_dict.get("logger", ""))}
        exc_info = _exc_info(event_dict.get("exc_info"))
        if exc_info is not None:
            self._capture_exception(exc_info, level=level, extras=fields, tags=tags)
        else:
            self._capture_message(name, level=level, extras=fields, tags=tags)


def _plain(value: object) -> object:
    """A field as Sentry may take it: anything but plain data as its str (never its repr
    through the SDK's serializer, which could hold what `str` leaves out)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _exc_info(value: object) -> Any:
    """structlog's `exc_info` (True: the one being handled; an exception; a sys.exc_info()
    tuple) as a tuple, or None."""
    if value is True:
        value = sys.exc_info()
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and value[1] is not None:
        return value
    return None


class Scrubber:
    """Sentry's `before_send`: what leaves has no bot token, link token, message text or any
    of the settings' secrets. Every string goes through the logs' scrubber (tokens, the
    secrets, deep-link tokens) and loses any token-shaped run (a link token, 43 characters);
    fields named like a message's text are blanked; frames keep their code location only."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [secret for secret in secrets if secret]

    def __call__(self, event: Any, _hint: Any) -> Any:  # sentry_sdk's Event: a TypedDict
        # The report's own message is the event's name (or a library's message): scrubbed,
        # not blanked. Anywhere else a field named like a message's text is.
        return {
            name: self._clean(item, blank=name not in SENTRY_MESSAGE)
            for name, item in event.items()
        }

    def _clean(self, value: Any, *, blank: bool = True) -> Any:
        if isinstance(value, str):
            return TOKEN_SHAPED.sub(REDACTED, scrub(value, self._secrets))
        if isinstance(value, list):
            return [self._clean(item, blank=blank) for item in value]
        if isinstance(value, dict):
            return {name: self._clean_item(name, item, blank) for name, item in value.items()}
        return value

    def _clean_item(self, name: str, item: Any, blank: bool) -> Any:
        if name == "frames" and isinstance(item, list):
            return [self._frame(frame) for frame in item]
        if blank and name in TEXT_FIELDS and item is not None:
            return REDACTED
        return self._clean(item, blank=blank)

    def _frame(self, frame: Any) -> Any:
        if not isinstance(frame, dict):
            return self._clean(frame)
        return {name: item for name, item in frame.items() if name in FRAME_LOCATION}
