"""The notification and the plain values every part shares: the schema and its parsing, the
envelope a payload travels in, and the outcomes. No I/O."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.formatting.entities import Formatted, check_link
from bot.formatting.html import html_to_formatted
from bot.formatting.markdown import markdown_to_formatted

PREVIEW_CHARS = 120
MESSAGE_MAX_CHARS = 32_768  # default for MESSAGE_MAX_CHARS: eight Telegram messages' worth
# Bytes a payload may take before it is parsed: a character can take 12 in JSON ("\ud83d\ude00"
# is one emoji), plus room for the other fields. Anything larger is refused unparsed.
PAYLOAD_BYTES_PER_CHAR = 12
PAYLOAD_SLACK_BYTES = 64 * 1024
INT64 = 2**63
MAX_BUTTONS = 100  # Telegram's limit for one message's inline keyboard
MAX_ACTION_CHARS = 1000
# A Telegram file_id: a long URL-safe base64 string (anything shorter is a typo, not an id).
FILE_ID = re.compile(r"[A-Za-z0-9_-]{20,}")

Format = Literal["text", "html", "markdown"]

# Where an envelope came from.
PUBSUB, STREAM, ADMIN = "pubsub", "stream", "admin"


class Outcome(StrEnum):
    """What finally happened to one notification."""

    SENT = "sent"
    UNLINKED = "unlinked"  # no chat is linked to the user id
    BLOCKED = "blocked"  # Telegram said 403: the user blocked the bot; the link was removed
    FAILED = "failed"  # Telegram refused it or stayed unreachable
    INVALID = "invalid"  # the payload was not a valid notification
    DUPLICATE = "duplicate"  # its id was delivered before, within the idempotency window


class Button(BaseModel):
    """An inline button under the message: it opens `url`, or reports `action` back to the web
    app (the actions stream) when tapped."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: StrictStr = Field(min_length=1, max_length=200, description="The button's label.")
    url: StrictStr | None = Field(
        default=None, description="An http, https or tg link the button opens."
    )
    action: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ACTION_CHARS,
        description='What a tap reports to the web app, e.g. "order-17:received".',
    )

    @model_validator(mode="after")
    def _valid(self) -> Button:
        # One validator for the whole button: a notification can carry a hundred of them.
        if not self.text.strip():
            raise ValueError("text must not be blank")
        _unicode(self.text)
        if (self.url is None) == (self.action is None):
            raise ValueError("a button needs either url or action, not both")
        if self.url is not None:
            check_link(self.url)
        if self.action is not None:
            _unicode(self.action)
        return self


class Notification(BaseModel):
    """One chat message for one web-app user. Extra fields are ignored for forward compatibility.

    Everything but `user_id` and `message` is optional and off by default: `{"user_id": 42,
    "message": "hi"}` is plain text, sent as is.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: StrictInt = Field(
        ge=-INT64, lt=INT64, description="The web app's id of the user to notify (64-bit)."
    )
    message: StrictStr = Field(
        description="The text (the caption with photo or document), read as `format` says."
    )
    id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Optional idempotency key: the same id is delivered at most once.",
    )
    format: Format = Field(
        default="text",
        description="text (sent as is), html (Telegram's HTML tags) or markdown.",
    )
    buttons: list[list[Button]] | None = Field(
        default=None, description=f"Rows of inline buttons, at most {MAX_BUTTONS} in all."
    )
    silent: StrictBool = Field(default=False, description="Arrives without a sound.")
    preview: StrictBool = Field(default=True, description="false: no link preview.")
    protect: StrictBool = Field(default=False, description="Cannot be forwarded or saved.")
    thread_id: StrictInt | None = Field(
        default=None, ge=1, lt=2**31, description="The forum topic to post in."
    )
    photo: StrictStr | None = Field(
        default=None, description="An https URL or a Telegram file_id; the message is its caption."
    )
    document: StrictStr | None = Field(
        default=None, description="An https URL or a Telegram file_id; the message is its caption."
    )

    @field_validator("message")
    @classmethod
    def _sendable(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            # Telegram rejects blank text ("message text is empty"): fail here, with a reason.
            raise ValueError("must not be empty")
        limit = (info.context or {}).get("max_chars", MESSAGE_MAX_CHARS)
        if len(value) > limit:
            raise ValueError(
                f"{len(value)} characters, over the limit of {limit} (MESSAGE_MAX_CHARS)"
            )
        return _unicode(value)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        return None if value is None else _unicode(value)

    @field_validator("buttons")
    @classmethod
    def _keyboard(cls, rows: list[list[Button]] | None) -> list[list[Button]] | None:
        if rows is None:
            return None
        for number, row in enumerate(rows):
            if not row:
                raise ValueError(f"row {number} is empty")
        count = sum(len(row) for row in rows)
        if count > MAX_BUTTONS:
            raise ValueError(f"{count} buttons, over Telegram's limit of {MAX_BUTTONS}")
        return rows or None

    @field_validator("photo", "document")
    @classmethod
    def _media(cls, value: str | None) -> str | None:
        if value is None or FILE_ID.fullmatch(value):
            return value
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.netloc and not any(c.isspace() for c in value):
            return value
        raise ValueError("must be an https URL or a Telegram file_id")

    @model_validator(mode="after")
    def _convert(self) -> Notification:
        if self.photo is not None and self.document is not None:
            raise ValueError("photo and document: give one of them, not both")
        try:
            if self.format == "html":
                formatted = html_to_formatted(self.message)
            elif self.format == "markdown":
                formatted = markdown_to_formatted(self.message)
            else:
                formatted = Formatted(self.message)
        except ValueError as exc:
            raise ValueError(f"message: {exc}") from None
        if not formatted.text.strip():
            raise ValueError(f"message: nothing to show once the {self.format} is read")
        # Kept where the cached property below keeps its value: a private attribute would
        # cost pydantic ~7 us per notification to set up, a quarter of parsing a plain one.
        self.__dict__["formatted"] = formatted
        return self

    @cached_property
    def formatted(self) -> Formatted:
        """The text as the chat shows it, with its entities (none for format "text"),
        converted when the notification was validated (model_construct: plain text)."""
        return Formatted(self.message)

    @property
    def media(self) -> tuple[Literal["photo", "document"], str] | None:
        if self.photo is not None:
            return "photo", self.photo
        if self.document is not None:
            return "document", self.document
        return None

    @property
    def actions(self) -> list[str]:
        """The actions of its buttons, in order (rows left to right, top to bottom)."""
        rows = self.buttons or []
        return [button.action for row in rows for button in row if button.action is not None]


def _unicode(value: str) -> str:
    """`value` if it can be sent as UTF-8: JSON's "\ud800" escapes decode to lone surrogates,
    which no HTTP request (nor Redis key) can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone surrogate at character {exc.start}") from None
    return value


class InvalidNotification(ValueError):
    """A payload that is not a valid notification; `reason` says why, `preview` shows the start."""

    def __init__(self, reason: str, payload: bytes | str) -> None:
        self.reason = reason
        self.preview = preview(payload)
        super().__init__(f"invalid notification: {reason}")


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


@dataclass(frozen=True)
class Result:
    """The final outcome of one delivery, why, how many send attempts it took, and the ids of
    the messages Telegram made (in order; some, when a later part failed)."""

    outcome: Outcome
    reason: str | None = None
    attempts: int = 0
    message_ids: tuple[int, ...] = ()


@dataclass
class Envelope:
    """A raw payload from one source, with what is known about it so far."""

    payload: bytes | str
    source: str  # PUBSUB, STREAM or ADMIN
    # Queues the source's acknowledgement (XACK) on the settling Redis pipeline.
    ack: Callable[[Any], object] | None = None
    release: Callable[[], None] | None = None  # called when done with, settled or not
    notification: Notification | None = None
    received_at: float = field(default_factory=time.time)
    # Resolved with the outcome once settled, for whoever waits on it (an admin's /send).
    settled: asyncio.Future[Outcome] | None = None
    # Where its action buttons' taps are looked up: made before its first send.
    action_key: str | None = None

    @property
    def user_id(self) -> int | None:
        return self.notification.user_id if self.notification else None

    @property
    def id(self) -> str | None:
        return self.notification.id if self.notification else None
