"""A payload parsed into a notification and its formatted message, or refused in one line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

from pydantic import ValidationError

from bot.formatting.entities import Formatted
from bot.formatting.html import html_to_formatted
from bot.formatting.markdown import markdown_to_formatted
from bot.notification.schema import MESSAGE_MAX_CHARS, REMIND_MIN_SECONDS, Notification

PREVIEW_CHARS = 120
# Bytes a payload may take before it is parsed: a character can take 12 in JSON ("\ud83d\ude00"
# is one emoji), plus room for the other fields. Anything larger is refused unparsed.
PAYLOAD_BYTES_PER_CHAR = 12
PAYLOAD_SLACK_BYTES = 64 * 1024
NOTHING = Formatted("")  # what a notification without a message shows (an edit of buttons)


class Parsed(NamedTuple):
    """A valid notification and its message as the chat shows it: the text with its entities
    (none for format "text"), read once, when it was parsed. A tuple: a fan-out makes one for
    each of its recipients. One that names a template has no message until it is rendered for
    its reader: `rendering` holds the template, once prepared (bot.pipeline.templating)."""

    notification: Notification
    formatted: Formatted
    rendering: object = None

    def copy_with(self, **changes: object) -> Parsed:
        """The same with some of the notification's fields changed (whom it is for, how it
        arrives), never its message or format: `formatted` was read from them."""
        if "message" in changes or "format" in changes:
            raise ValueError("a new message or format is parsed anew (parse_fields)")
        return Parsed(self.notification.model_copy(update=changes), self.formatted, self.rendering)


def parse_notification(
    payload: bytes | str,
    max_chars: int = MESSAGE_MAX_CHARS,
    remind_min_seconds: int = REMIND_MIN_SECONDS,
) -> Parsed:
    """Parse one raw payload, raising InvalidNotification with a one-line reason. No payload
    makes it raise anything else: too large, nested too deep, numbers too long, bad UTF-8,
    lone surrogates or unreadable HTML/Markdown all come out as InvalidNotification."""
    max_bytes = max_chars * PAYLOAD_BYTES_PER_CHAR + PAYLOAD_SLACK_BYTES
    if len(payload) > max_bytes:
        raise InvalidNotification(
            f"payload of {len(payload)} bytes, over the {max_bytes} a message of "
            f"MESSAGE_MAX_CHARS ({max_chars}) characters can take",
            payload,
        )
    try:
        data = json.loads(payload)
    except RecursionError:
        raise InvalidNotification("not valid JSON (nested too deeply)", payload) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise InvalidNotification(f"not valid JSON ({_first_line(exc)})", payload) from None
    if not isinstance(data, dict):
        raise InvalidNotification(f"expected a JSON object, got {_json_type(data)}", payload)
    try:
        return parse_fields(data, max_chars, remind_min_seconds)
    except ValueError as exc:
        raise InvalidNotification(str(exc), payload) from None


def parse_fields(
    fields: Mapping[str, object],
    max_chars: int = MESSAGE_MAX_CHARS,
    remind_min_seconds: int = REMIND_MIN_SECONDS,
) -> Parsed:
    """The notification that decoded JSON fields make, with its message read as its `format`
    says: what the bot would send. ValueError with one line naming what is wrong."""
    try:
        context = {"max_chars": max_chars, "remind_min_seconds": remind_min_seconds}
        notification = Notification.model_validate(fields, context=context)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc)) from None
    return Parsed(notification, _formatted(notification, max_chars))


def _formatted(notification: Notification, max_chars: int) -> Formatted:
    """The message as the chat shows it; ValueError when it cannot be read as its format
    says, or shows nothing or too much once read."""
    message, kind = notification.message, notification.format
    if message is None:
        return NOTHING
    try:
        if kind == "html":
            formatted = html_to_formatted(message)
        elif kind == "markdown":
            formatted = markdown_to_formatted(message)
        else:
            formatted = Formatted(message)
    except ValueError as exc:
        raise ValueError(f"message: {exc}") from None
    if not formatted.text.strip():
        raise ValueError(f"message: nothing to show once the {kind} is read")
    if len(formatted.text) > max_chars:
        # Markdown can grow as it is read (nested lists indent every line): 32 K characters
        # became 327 K, 81 messages to every chat. The limit is what the chat gets.
        raise ValueError(
            f"message: {len(formatted.text)} characters once the {kind} is read, "
            f"over the limit of {max_chars} (MESSAGE_MAX_CHARS)"
        )
    return formatted


class InvalidNotification(ValueError):
    """A payload that is not a valid notification; `reason` says why, `preview` shows the start."""

    def __init__(self, reason: str, payload: bytes | str) -> None:
        self.reason = reason
        self.preview = preview(payload)
        super().__init__(f"invalid notification: {reason}")

    def __reduce__(self) -> tuple[type[InvalidNotification], tuple[str, str]]:
        # Raised in the parser's worker process (bot.pipeline.parsing) and pickled back.
        return InvalidNotification, (self.reason, self.preview)


def preview(payload: bytes | str) -> str:
    """The start of a payload, decoded leniently and truncated for a log line."""
    # Only the start is decoded: a payload can be megabytes. 4 bytes or 1 character of the
    # head make at most one character of text, so a cut head still gives over PREVIEW_CHARS.
    head = payload[: PREVIEW_CHARS * 4 + 4]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _first_line(exc: Exception) -> str:
    text = str(exc).split("; use sys.set_int_max_str_digits", 1)[0]
    return text.splitlines()[0] if text else type(exc).__name__


def describe_errors(exc: ValidationError) -> str:
    """A pydantic error as one line: "user_id: input should be a valid integer; ..."."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        message = f"{message[:1].lower()}{message[1:]}"
        # An error about the whole notification names its fields itself ("photo and document").
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def _json_type(value: object) -> str:
    names = {
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
