"""Replies: the `reply_parameters` (and older `reply_to_message_id`) of a send, and the
`reply_to_message` a Message carries: the replied message, itself without a reply_to_message.

From the Bot API server's Client.cpp: get_reply_parameters, check_reply_parameters (an unknown
message is "message to be replied not found" unless allow_sending_without_reply) and
JsonMessage (the replied message is written with need_reply false: no nested reply).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import NoReturn

from bot.testing.model import ApiError, JSONDict, State, truthy

NOT_FOUND = "Bad Request: message to be replied not found"


@dataclass(frozen=True)
class ReplyTo:
    """The message a send replies to, in the chat it is sent to."""

    message_id: int
    allow_sending_without_reply: bool = False


def reply_parameters(params: JSONDict, chat_id: int) -> ReplyTo | None:
    """What `params` ask to reply to (None: no reply), or the server's 400 for parameters it
    cannot read. `reply_parameters` wins; without it, `reply_to_message_id` and
    `allow_sending_without_reply`, as before Bot API 7.0."""
    if "reply_parameters" not in params:
        message_id = _message_id(params.get("reply_to_message_id"))
        if message_id <= 0:
            return None
        return ReplyTo(message_id, truthy(params.get("allow_sending_without_reply")))
    value = params["reply_parameters"]
    if value in (None, ""):
        return None
    if isinstance(value, str):  # form bodies carry it as JSON text; this one did not decode
        _refuse("can't parse reply parameters JSON object")
    if not isinstance(value, dict):
        _refuse("object expected as reply parameters")
    if not value:
        return None
    if "message_id" not in value:
        _refuse('can\'t find field "message_id"')
    raw = value["message_id"]
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        _refuse('field "message_id" must be of type Number')
    allow = value.get("allow_sending_without_reply", False)
    if not isinstance(allow, bool):
        _refuse('field "allow_sending_without_reply" must be of type Boolean')
    other_chat = value.get("chat_id")
    if other_chat not in (None, "") and str(other_chat) != str(chat_id):
        # Ours: a reply to another chat's message (an external_reply) is not emulated.
        _refuse("replies to another chat are not emulated")
    message_id = _message_id(raw)
    if message_id <= 0:  # the server reads what is no positive id as no reply
        return None
    return ReplyTo(message_id, allow)


def find_message(state: State, chat_id: int, message_id: int) -> JSONDict | None:
    """The Message `message_id` of chat `chat_id` as the chat shows it now (the bot's, a user's
    or a post, a topic's first message), None when the chat has none (never had, deleted)."""
    for sent in state.sent:
        if sent.chat_id == chat_id and sent.message_id == message_id:
            return sent.message
    return state.received.get((chat_id, message_id)) or state.topic_roots.get((chat_id, message_id))


def as_replied(message: JSONDict) -> JSONDict:
    """`message` as a reply_to_message shows it: without a reply_to_message of its own."""
    return {key: value for key, value in message.items() if key != "reply_to_message"}


def _message_id(value: object) -> int:
    """The server's get_message_id: what is no whole number is 0, no message."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _refuse(description: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")
