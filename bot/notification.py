"""The notification and the plain values every part shares: the schema and its parsing, the
envelope a payload travels in, and the outcomes. No I/O."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

PREVIEW_CHARS = 120

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


class Notification(BaseModel):
    """One chat message for one web-app user. Extra fields are ignored for forward compatibility."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: StrictInt = Field(description="The web app's id of the user to notify.")
    message: StrictStr = Field(description="Plain text, sent as is (no Markdown or HTML).")
    id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Optional idempotency key: the same id is delivered at most once.",
    )

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            # Telegram rejects blank text ("message text is empty"): fail here, with a reason.
            raise ValueError("must not be empty")
        return value


class InvalidNotification(ValueError):
    """A payload that is not a valid notification; `reason` says why, `preview` shows the start."""

    def __init__(self, reason: str, payload: bytes | str) -> None:
        self.reason = reason
        self.preview = preview(payload)
        super().__init__(f"invalid notification: {reason}")


def preview(payload: bytes | str) -> str:
    """The start of a payload, decoded leniently and truncated for a log line."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def parse_notification(payload: bytes | str) -> Notification:
    """Parse one raw pub/sub payload, raising InvalidNotification with a one-line reason."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotification(f"not valid JSON ({exc})", payload) from None
    if not isinstance(data, dict):
        raise InvalidNotification(f"expected a JSON object, got {_json_type(data)}", payload)
    try:
        return Notification.model_validate(data)
    except ValidationError as exc:
        raise InvalidNotification(describe_errors(exc), payload) from None


def describe_errors(exc: ValidationError) -> str:
    """A pydantic error as one line: "user_id: input should be a valid integer; ..."."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "notification"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message[:1].lower()}{message[1:]}")
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
    """The final outcome of one delivery, why, and how many sendMessage attempts it took."""

    outcome: Outcome
    reason: str | None = None
    attempts: int = 0


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

    @property
    def user_id(self) -> int | None:
        return self.notification.user_id if self.notification else None

    @property
    def id(self) -> str | None:
        return self.notification.id if self.notification else None
