"""A raw payload made a notification, or refused with one line naming what is wrong."""

from __future__ import annotations

import json

from pydantic import ValidationError

from bot.notification.schema import MESSAGE_MAX_CHARS, Notification

PREVIEW_CHARS = 120
# Bytes a payload may take before it is parsed: a character can take 12 in JSON ("\ud83d\ude00"
# is one emoji), plus room for the other fields. Anything larger is refused unparsed.
PAYLOAD_BYTES_PER_CHAR = 12
PAYLOAD_SLACK_BYTES = 64 * 1024


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


def parse_notification(payload: bytes | str, max_chars: int = MESSAGE_MAX_CHARS) -> Notification:
    """Parse one raw payload, raising InvalidNotification with a one-line reason. No payload
    makes it raise anything else: too large, nested too deep, numbers too long, bad UTF-8 or
    lone surrogates all come out as InvalidNotification."""
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
        return Notification.model_validate(data, context={"max_chars": max_chars})
    except ValidationError as exc:
        raise InvalidNotification(describe_errors(exc), payload) from None


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
