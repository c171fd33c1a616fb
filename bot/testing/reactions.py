"""Reactions: `react` sets a user's reactions on a message and queues the message_reaction
update Telegram sends; setMessageReaction sets the bot's own.

Telegram's rules (Bot API docs for Update; the Bot API server's Client.cpp: JsonReactionType,
JsonMessageReactionUpdated, JsonMessageReactionCountUpdated, DEFAULT_ALLOWED_UPDATE_TYPES):
a bot gets message_reaction only when it lists it in allowed_updates (model.is_allowed), in
groups and supergroups only as an administrator, and never for reactions set by bots.
Reactions in a channel are anonymous: message_reaction_count, never message_reaction (and for
an administrator that lists it; Telegram groups these and sends them up to minutes late, the
emulator at once).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import NoReturn

from bot.testing.chats import PRESENT, check_access, status_in
from bot.testing.model import ApiError, Emulated, JSONDict, int_param
from bot.testing.replies import find_message

ADMINS = ("creator", "administrator")
MAX_BOT_REACTIONS = 1  # "bots can set up to one reaction per message" (non-premium)


class ReactionMethods(Emulated):
    """react (a user's side), setMessageReaction (the bot's), and reactions_on."""

    def react(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        *,
        emoji: Iterable[str] = (),
        custom_emoji: Iterable[str] = (),
        anonymous: bool = False,
    ) -> JSONDict:
        """User `user_id` sets their reactions on message `message_id` of chat `chat_id`: the
        `emoji` ("👍") and then the `custom_emoji` ids given replace the ones they had, as in
        Telegram's apps (none given: they take theirs back). Returns the Update Telegram
        would send, queued when the bot gets it (see the module's rules).

        `anonymous`: an anonymous administrator of a group reacts, and the update names the
        chat (actor_chat) instead of the user. ValueError for a chat or message Telegram does
        not have, or a user who cannot react there (not in the group; in a private chat,
        anyone but its user).
        """
        new = [{"type": "emoji", "emoji": str(e)} for e in emoji] + [
            {"type": "custom_emoji", "custom_emoji_id": str(c)} for c in custom_emoji
        ]
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = state.chats.get(chat_id)
            if chat is None:
                raise ValueError(f"no chat {chat_id}: add_chat, add_group or add_channel first")
            if find_message(state, chat_id, message_id) is None:
                raise ValueError(f"chat {chat_id} has no message {message_id}")
            chat_type = chat["type"]
            self._check_reactor(chat, user_id, anonymous=anonymous)
            by_user = state.reactions.setdefault((chat_id, message_id), {})
            old = by_user.get(user_id, [])
            if new:
                by_user[user_id] = new
            else:
                by_user.pop(user_id, None)
            bot_admin = chat_type == "private" or status_in(state, chat_id, bot_id).status in ADMINS
            if chat_type == "channel":
                counted = self._reaction_count(chat, message_id)
                if bot_admin:
                    return self._queue_update("message_reaction_count", counted)
                return {"update_id": state.next_update_id, "message_reaction_count": counted}
            change: JSONDict = {"chat": chat, "message_id": message_id}
            if anonymous:
                change["actor_chat"] = chat
            else:
                change["user"] = state.users.get(user_id) or {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": "Test",
                }
            change.update(date=int(time.time()), old_reaction=old, new_reaction=new)
            if not bot_admin:
                return {"update_id": state.next_update_id, "message_reaction": change}
            return self._queue_update("message_reaction", change)

    def reactions_on(self, chat_id: int, message_id: int) -> dict[int, list[JSONDict]]:
        """The reactions on a message now: each user's (and the bot's, under its id)
        ReactionType list."""
        with self._changed:
            found = self._state.reactions.get((chat_id, message_id), {})
            return {user: list(types) for user, types in found.items()}

    # -- the API -------------------------------------------------------------------------

    def _set_message_reaction(self, params: JSONDict) -> bool:
        chat_id = int_param(params, "chat_id")
        types = _reaction_types(params.get("reaction"))
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            check_access(state, chat_id, bot_id, "read")
            message_id = _message_id(params.get("message_id"))
            if find_message(state, chat_id, message_id) is None:
                _refuse("message to react not found")
            if len(types) > MAX_BOT_REACTIONS:
                _refuse("REACTIONS_TOO_MANY")  # Telegram's error name, passed through
            by_user = state.reactions.setdefault((chat_id, message_id), {})
            if types:
                by_user[bot_id] = types
            else:
                by_user.pop(bot_id, None)
            # No message_reaction: "the update isn't received for reactions set by bots".
        return True

    # -- shared by them (the caller holds the lock) ------------------------------------------

    def _check_reactor(self, chat: JSONDict, user_id: int, *, anonymous: bool) -> None:
        """ValueError unless `user_id` can react in `chat`."""
        chat_id, chat_type = chat["id"], chat["type"]
        if chat_type == "private" and user_id != chat_id:
            raise ValueError(f"only user {chat_id} reacts in their private chat with the bot")
        if chat_type != "private" and chat_id in self._state.listed:
            status = status_in(self._state, chat_id, user_id).status
            if status not in PRESENT:
                raise ValueError(f"user {user_id} is not in chat {chat_id} ({status})")
        if anonymous and chat_type not in ("group", "supergroup"):
            raise ValueError("only a group's administrators react anonymously")

    def _reaction_count(self, chat: JSONDict, message_id: int) -> JSONDict:
        """The MessageReactionCountUpdated of a message: each reaction with how many set it,
        the most set first."""
        counts: dict[tuple[str, str], tuple[JSONDict, int]] = {}
        for types in self._state.reactions.get((chat["id"], message_id), {}).values():
            for reaction in types:
                key = (reaction["type"], reaction.get("emoji") or reaction["custom_emoji_id"])
                kept, count = counts.get(key, (reaction, 0))
                counts[key] = (kept, count + 1)
        ranked = sorted(counts.values(), key=lambda pair: -pair[1])
        return {
            "chat": chat,
            "message_id": message_id,
            "date": int(time.time()),
            "reactions": [{"type": kept, "total_count": count} for kept, count in ranked],
        }


def _reaction_types(value: object) -> list[JSONDict]:
    """setMessageReaction's `reaction`, as the Bot API server's get_reaction_types reads it."""
    if value in (None, ""):
        return []
    if isinstance(value, str):  # form bodies carry it as JSON text; this one did not decode
        _refuse("can't parse reaction types JSON object")
    if not isinstance(value, list):
        _refuse("expected an Array of ReactionType")
    return [_reaction_type(item) for item in value]


def _reaction_type(item: object) -> JSONDict:
    prefix = "can't parse ReactionType: "
    if not isinstance(item, dict):
        _refuse(prefix + "expected an Object")
    kind = item.get("type")
    if kind is None:
        _refuse(prefix + 'Can\'t find field "type"')
    if kind not in ("emoji", "custom_emoji"):
        _refuse(prefix + "invalid reaction type specified")
    if kind == "emoji":
        emoji = item.get("emoji")
        if not isinstance(emoji, str):
            _refuse(prefix + 'Can\'t find field "emoji"')
        return {"type": "emoji", "emoji": emoji}
    custom = item.get("custom_emoji_id")
    if not str(custom).isdigit():
        _refuse(prefix + 'Can\'t find field "custom_emoji_id"')
    return {"type": "custom_emoji", "custom_emoji_id": str(custom)}


def _message_id(value: object) -> int:
    try:
        return max(int(str(value)), 0)
    except ValueError:
        return 0


def _refuse(description: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")
