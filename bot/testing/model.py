"""What the emulator records and answers with: API errors shaped like Telegram's, the calls the
bot made, the messages it sent, edited and deleted, scripted faults, and the state behind them."""

from __future__ import annotations

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
    """A message the bot sent (sendMessage, sendPhoto, sendDocument), as it stands now."""

    chat_id: int
    text: str  # the text, or the caption of a photo or document ("" when it has none)
    message_id: int
    params: JSONDict  # the parameters of the call that sent (or last edited) it
    at: float
    method: str = "sendMessage"
    entities: list[JSONDict] = field(default_factory=list)  # or caption_entities, as sent
    buttons: list[list[JSONDict]] = field(default_factory=list)  # inline keyboard rows
    media: str | None = None  # the photo or document parameter: a URL or a file_id
    # A ForceReply in reply_markup: the user's app opens a reply to this message. Telegram keeps
    # no trace of it in the Message it answers with (only inline keyboards show there).
    force_reply: bool = False
    placeholder: str | None = None  # the ForceReply's input_field_placeholder
    reply_to: int | None = None  # the message_id it replies to (reply_parameters), if any
    # The Message object Telegram answered with (and puts in a callback_query).
    message: JSONDict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class StoredFile:
    """A file Telegram has: what it is, and the object a message shows for it (a list of
    PhotoSize for a photo, a Document for a document)."""

    kind: str  # "photo" or "document"
    content: Any


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
class Member:
    """A user's place in a group, supergroup or channel: Telegram's ChatMember status
    ("creator", "administrator", "member", "left", "kicked") and an administrator's rights."""

    status: str
    rights: JSONDict = field(default_factory=dict)  # can_delete_messages, ... (administrators)


@dataclass
class State:
    updates: list[JSONDict] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1
    poll_generation: int = 0
    offset: int = 0  # the highest getUpdates offset: updates below it are confirmed, gone
    calls: list[ApiCall] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)  # what the chats show: none deleted
    edits: list[SentMessage] = field(default_factory=list)
    deleted: list[tuple[int, int]] = field(default_factory=list)  # (chat_id, message_id)
    rewrites: int = 0  # edits and deletions: a change to `sent` other than a message added
    # The users' messages (user_says), by (chat_id, message_id): a bot may delete some of them.
    received: dict[tuple[int, int], JSONDict] = field(default_factory=dict)
    chats: dict[int, JSONDict] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    commands: dict[str, list[JSONDict]] = field(default_factory=dict)  # by scope, language
    scripts: dict[str, list[Script]] = field(default_factory=dict)
    webhook: JSONDict = field(default_factory=dict)  # url, secret_token, allowed_updates, ...
    webhook_errors: list[str] = field(default_factory=list)
    # What the last getUpdates or setWebhook asked for; None: Telegram's default (all kinds).
    allowed_updates: list[str] | None = None
    topics: dict[int, set[int]] = field(default_factory=dict)  # forum chats' message threads
    files: dict[str, StoredFile] = field(default_factory=dict)  # by file_id
    files_by_url: dict[tuple[str, str], StoredFile] = field(default_factory=dict)
    refused_urls: set[str] = field(default_factory=set)
    next_file: int = 1
    queries: dict[str, JSONDict | None] = field(default_factory=dict)  # id -> answer, if any
    answers: list[JSONDict] = field(default_factory=list)
    next_query: int = 1
    # People and places: every user Telegram showed the bot (by id), the members of each group,
    # supergroup and channel (by chat id, then user id), the chats whose member list a test gave
    # in full (add_group, add_channel), basic groups upgraded to supergroups (old id -> new), and
    # each forum topic's first message, the forum_topic_created one (by chat id, thread id).
    users: dict[int, JSONDict] = field(default_factory=dict)
    members: dict[int, dict[int, Member]] = field(default_factory=dict)
    listed: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    topic_roots: dict[tuple[int, int], JSONDict] = field(default_factory=dict)
    # Reactions on a message (by chat id, message id), then each reacting user's (or the bot's)
    # ReactionType list, in the order they set them.
    reactions: dict[tuple[int, int], dict[int, list[JSONDict]]] = field(default_factory=dict)


class Emulated:
    """What the parts of the emulator share (each method group is a mixin of FakeTelegram)."""

    bot_user: JSONDict
    conflicts: int
    on_sent: Callable[[SentMessage], None] | None
    on_edited: Callable[[SentMessage], None] | None
    on_deleted: Callable[[int, int], None] | None
    _state: State
    _changed: threading.Condition
    _closing: bool

    def _queue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        """Queue an Update of `kind` for the bot (the caller holds the lock) and return it, unless
        the bot's allowed_updates leave that kind out: Telegram then never creates it."""
        state = self._state
        update: JSONDict = {"update_id": state.next_update_id, kind: payload}
        if is_allowed(update, state.allowed_updates):
            state.next_update_id += 1
            state.updates.append(update)
            self._changed.notify_all()
        return update


def int_param(params: JSONDict, name: str) -> int:
    value = params.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found") from None


def truthy(value: object) -> bool:
    return value in (True, "true", "True", "1", 1)


# Kinds Telegram creates only for a bot that lists them in allowed_updates (the Bot API
# server's DEFAULT_ALLOWED_UPDATE_TYPES, Client.h): the default set is every other kind.
NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def is_allowed(update: JSONDict, allowed: object) -> bool:
    """Whether Telegram creates `update` for a bot whose allowed_updates are `allowed` (None or
    []: the default set, which leaves chat_member and reactions out)."""
    if not isinstance(allowed, list) or not allowed:
        return not any(kind in update for kind in NOT_BY_DEFAULT)
    return any(kind in update for kind in allowed)


def is_listed(update: JSONDict, allowed: object) -> bool:
    """Whether a delivery asking for `allowed` takes an update already queued: a list given
    leaves other kinds waiting; none given takes everything queued. (Ours: Telegram documents
    that allowed_updates do not affect updates created before the call.)"""
    if not isinstance(allowed, list) or not allowed:
        return True
    return any(kind in update for kind in allowed)


def remember_allowed(state: State, allowed: object) -> None:
    """Telegram keeps the allowed_updates of the last call that gave them and creates no update
    of another kind meanwhile ([] goes back to the default)."""
    if isinstance(allowed, list):
        state.allowed_updates = [str(kind) for kind in allowed] or None
