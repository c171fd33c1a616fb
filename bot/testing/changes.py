"""Changing what the bot sent: editMessageText, editMessageCaption, editMessageReplyMarkup and
deleteMessage, checked the way Telegram checks them, with Telegram's 48-hour limit on deleting
(`age_message` makes a message older to test it).

The descriptions are the real ones: the Bot API server's (telegram-bot-api Client.cpp:
check_chat, check_message, process_delete_message_query, fail_query_with_error), TDLib's
(MessagesManager.cpp: edit_message_text, edit_message_caption, can_edit_message,
delete_messages, can_delete_channel_message, can_revoke_message), and Telegram's own
MESSAGE_NOT_MODIFIED, MESSAGE_TOO_LONG and MEDIA_CAPTION_TOO_LONG: TDLib checks the length of a
new message itself and words it differently, but passes an edit's on to the servers.

An administrator bot deletes others' messages in groups, supergroups and channels where
TDLib lets it (the rights in chats.py); calls into a chat the bot is not in answer 403.
"""

from __future__ import annotations

import dataclasses
import time
from http import HTTPStatus
from typing import NoReturn

from bot.testing.chats import Access, check_access, status_in
from bot.testing.entities import checked_entities
from bot.testing.formatting import (
    MAX_CAPTION_UTF16,
    MAX_TEXT_UTF16,
    check_length,
    link_preview_options,
    parsed_text,
    visible_caption,
)
from bot.testing.keyboards import inline_keyboard
from bot.testing.model import ApiError, Emulated, JSONDict, Member, SentMessage, int_param

# TDLib's revoke time limit for bots, the Bot API docs' "less than 48 hours ago".
DELETE_WINDOW_SECONDS = 2 * 86400
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


class ChangeMethods(Emulated):
    """editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage, and what they
    changed (edits, deleted); age_message."""

    @property
    def edits(self) -> list[SentMessage]:
        """Every edit Telegram accepted (text, caption or keyboard), in order: the message as it
        stood after it."""
        with self._changed:
            return list(self._state.edits)

    @property
    def deleted(self) -> list[tuple[int, int]]:
        """(chat_id, message_id) of every message deleteMessage deleted, in order. A deleted
        message of the bot's is gone from `sent` and `wait_for_sent`, as from the chat."""
        with self._changed:
            return list(self._state.deleted)

    def age_message(self, chat_id: int, message_id: int, seconds: int) -> None:
        """Make a message `seconds` older, as if sent that long ago: its `date` (and its
        SentMessage's `at`) move back. For the 48-hour limit on deleting: at most 172800
        seconds old, a message can be deleted; older, Telegram refuses.

        The message is one the bot sent or a user's from `user_says`; ValueError for any other.
        """
        if seconds < 0:
            raise ValueError("a message can only be made older: seconds must be >= 0")
        with self._changed:
            state = self._state
            index = _index(state.sent, chat_id, message_id)
            if index is not None:
                old = state.sent[index]
                state.sent[index] = dataclasses.replace(
                    old, at=old.at - seconds, message=_older(old.message, seconds)
                )
                return
            key = (chat_id, message_id)
            if key not in state.received:
                raise ValueError(f"chat {chat_id} has no message {message_id}")
            state.received[key] = _older(state.received[key], seconds)

    # -- the API -------------------------------------------------------------------------

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        preview = link_preview_options(params)
        text = parsed_text(params)
        entities = checked_entities(text, params, "entities")
        buttons = inline_keyboard(params.get("reply_markup"))
        chat_id, message_id = _target(params, deleting=False)
        with self._changed:
            index = self._editable(chat_id, message_id)
            if self._state.sent[index].media is not None:
                _refuse("there is no text in the message to edit")
            check_length(text, MAX_TEXT_UTF16, "Bad Request: MESSAGE_TOO_LONG")
            content: JSONDict = {"text": text}
            if entities:
                content["entities"] = entities
            if preview:
                content["link_preview_options"] = preview
            return self._rewrite(
                index,
                params,
                text=text,
                entities=entities,
                buttons=buttons,
                content=content,
                replaces=("text", "entities", "link_preview_options"),
            )

    def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        buttons = inline_keyboard(params.get("reply_markup"))
        caption = visible_caption(params)  # none given: the caption goes
        entities = checked_entities(caption, params, "caption_entities")
        chat_id, message_id = _target(params, deleting=False)
        with self._changed:
            index = self._editable(chat_id, message_id)
            if self._state.sent[index].media is None:
                _refuse("there is no caption in the message to edit")
            check_length(caption, MAX_CAPTION_UTF16, "Bad Request: MEDIA_CAPTION_TOO_LONG")
            content: JSONDict = {}
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
            return self._rewrite(
                index,
                params,
                text=caption,
                entities=entities,
                buttons=buttons,
                content=content,
                replaces=("caption", "caption_entities"),
            )

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        buttons = inline_keyboard(params.get("reply_markup"))  # none given: the keyboard goes
        chat_id, message_id = _target(params, deleting=False)
        with self._changed:
            index = self._editable(chat_id, message_id)
            old = self._state.sent[index]
            return self._rewrite(
                index,
                params,
                text=old.text,
                entities=old.entities,
                buttons=buttons,
                content={},
                replaces=(),
            )

    def _delete_message(self, params: JSONDict) -> bool:
        chat_id, message_id = _target(params, deleting=True)
        with self._changed:
            state = self._state
            index = self._locate(chat_id, message_id, "message to delete", "write")
            bot = status_in(state, chat_id, int(self.bot_user["id"]))
            if index is None:
                _check_deletable(state.received[(chat_id, message_id)], outgoing=False, bot=bot)
                del state.received[(chat_id, message_id)]
            else:
                _check_deletable(state.sent[index].message, outgoing=True, bot=bot)
                del state.sent[index]
            state.deleted.append((chat_id, message_id))
            state.rewrites += 1
            self._changed.notify_all()
        if self.on_deleted is not None:
            self.on_deleted(chat_id, message_id)
        return True

    # -- shared by them (the caller holds the lock) ------------------------------------------

    def _locate(self, chat_id: int, message_id: int, what: str, access: Access) -> int | None:
        """Where the message is in `sent`, None for a user's message; a 400 for a chat or a
        message the chat does not have (never had, or deleted), a 403 (or the upgraded
        group's 400) for a chat the bot cannot `access` (chats.check_access)."""
        state = self._state
        check_access(state, chat_id, int(self.bot_user["id"]), access)
        index = _index(state.sent, chat_id, message_id)
        if index is None and (chat_id, message_id) not in state.received:
            _refuse(f"{what} not found")
        return index

    def _editable(self, chat_id: int, message_id: int) -> int:
        """Where the message to edit is in `sent`; only its sender may edit a user's message."""
        index = self._locate(chat_id, message_id, "message to edit", "edit")
        if index is None:
            _refuse("message can't be edited")
        return index

    def _rewrite(
        self,
        index: int,
        params: JSONDict,
        *,
        text: str,
        entities: list[JSONDict],
        buttons: list[list[JSONDict]],
        content: JSONDict,
        replaces: tuple[str, ...],
    ) -> JSONDict:
        """Edit `sent[index]`: the Message's `replaces` fields become `content`, its keyboard
        `buttons` (none: removed); returns the Message. What the chat shows must change."""
        state = self._state
        old = state.sent[index]
        if (old.text, old.entities, old.buttons) == (text, entities, buttons):
            _refuse(NOT_MODIFIED)
        message = {
            key: value
            for key, value in old.message.items()
            if key not in (*replaces, "reply_markup")
        }
        message.update(content, edit_date=int(time.time()))
        if buttons:
            message["reply_markup"] = {"inline_keyboard": buttons}
        state.sent[index] = dataclasses.replace(
            old, text=text, params=params, entities=entities, buttons=buttons, message=message
        )
        state.edits.append(state.sent[index])
        state.rewrites += 1
        self._changed.notify_all()
        if self.on_edited is not None:
            self.on_edited(state.sent[index])
        return message


def _target(params: JSONDict, *, deleting: bool) -> tuple[int, int]:
    """(chat_id, message_id) of the message a call is about, or the Bot API server's 400 for
    one left out."""
    message_id = _message_id(params)
    if params.get("chat_id") in (None, ""):
        if deleting:
            _refuse("chat identifier is not specified")
        if message_id:
            _refuse("chat_id is empty")
        # Without both, an edit is of an inline message: this emulator has none to edit.
        if params.get("inline_message_id") in (None, ""):
            _refuse("message identifier is not specified")
        _refuse("invalid inline message identifier specified")
    if deleting and not message_id:
        _refuse("message identifier is not specified")
    return int_param(params, "chat_id"), message_id


def _message_id(params: JSONDict) -> int:
    """The server's get_message_id: what is no positive whole number is 0, no message."""
    try:
        return max(int(str(params.get("message_id"))), 0)
    except ValueError:
        return 0


def _check_deletable(message: JSONDict, *, outgoing: bool, bot: Member) -> None:
    """TDLib's rules for a bot: in supergroups and channels (can_delete_channel_message)
    nothing older than 48 hours, and another's message only as an administrator with
    can_delete_messages; in private chats and groups (can_revoke_message) nothing over 48
    hours old, and another's message in a private chat, or in a group as an administrator
    (a basic group's have one set of rights). Note the bounds: exactly 48 hours old is too old
    in the first, still young enough in the second."""
    age = int(time.time()) - int(message["date"])
    chat_type = message["chat"]["type"]
    admin = bot.status == "administrator"
    if chat_type in ("supergroup", "channel"):
        if age >= DELETE_WINDOW_SECONDS:
            _refuse("message can't be deleted")
        if not (outgoing or (admin and bot.rights.get("can_delete_messages"))):
            _refuse("message can't be deleted")
    elif age > DELETE_WINDOW_SECONDS or not (
        outgoing or chat_type == "private" or (chat_type == "group" and admin)
    ):
        _refuse("message can't be deleted for everyone")


def _index(sent: list[SentMessage], chat_id: int, message_id: int) -> int | None:
    return next(
        (i for i, m in enumerate(sent) if m.chat_id == chat_id and m.message_id == message_id),
        None,
    )


def _older(message: JSONDict, seconds: int) -> JSONDict:
    # A copy: updates queued already keep the Message as it was when they were made.
    return {**message, "date": int(message["date"]) - seconds}


def _refuse(description: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")
