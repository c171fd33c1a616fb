"""What the emulator records and answers with: API errors shaped like Telegram's, the calls the
bot made, the messages it sent, scripted faults, and the state behind them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456789:AAEmulatorTokenForOfflineTestsOnly_x"  # noqa: S105 - public fake


class ApiError(Exception):
    """An error answer: {"ok": false, "error_code": ..., "description": ..., "parameters": ...}."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: method name and its parameters (as decoded values)."""

    method: str
    params: JSONDict
    at: float


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent with sendMessage."""

    chat_id: int
    text: str
    message_id: int
    params: JSONDict
    at: float


class DropConnection(Exception):
    """Scripted fault: close the connection without an answer."""


@dataclass
class Script:
    """What to do instead of the real answer, for the next `times` calls of a method."""

    times: int
    error: ApiError | None = None
    hang: float = 0.0  # seconds to hold the request before answering normally
    drop: bool = False


@dataclass
class State:
    updates: list[JSONDict] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1
    poll_generation: int = 0
    calls: list[ApiCall] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    edits: list[SentMessage] = field(default_factory=list)
    chats: dict[int, JSONDict] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    commands: dict[str, list[JSONDict]] = field(default_factory=dict)
    scripts: dict[str, list[Script]] = field(default_factory=dict)
    webhook: JSONDict = field(default_factory=dict)  # url, secret_token, allowed_updates, ...
    webhook_errors: list[str] = field(default_factory=list)


class Emulated:
    """What the parts of the emulator share (each method group is a mixin of FakeTelegram)."""

    bot_user: JSONDict
    conflicts: int
    on_sent: Callable[[SentMessage], None] | None
    _state: State
    _changed: threading.Condition
    _closing: bool


def int_param(params: JSONDict, name: str) -> int:
    value = params.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found") from None


def truthy(value: object) -> bool:
    return value in (True, "true", "True", "1", 1)


def is_allowed(update: JSONDict, allowed: object) -> bool:
    if not isinstance(allowed, list) or not allowed:
        return True
    return any(kind in update for kind in allowed)


def scope_key(params: JSONDict) -> str:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True)
