"""The Bot API methods the emulator answers besides webhooks: getUpdates (long polling, offsets,
409 on a second poller), sendMessage and editMessageText with Telegram's checks and flood
control, and the command menus."""

from __future__ import annotations

import time
from http import HTTPStatus

from bot.testing.flood import FloodControl
from bot.testing.formatting import visible_text
from bot.testing.model import (
    ApiError,
    DropConnection,
    Emulated,
    JSONDict,
    SentMessage,
    int_param,
    is_allowed,
    scope_key,
)

MAX_POLL_SECONDS = 50  # Telegram caps long polls too


class ChatMethods(Emulated):
    """getUpdates, sendMessage, editMessageText, set/get/deleteMyCommands."""

    flood: FloodControl | None
    rate_limited: int
    offline: bool

    def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        with self._changed:
            state = self._state
            state.poll_generation += 1
            generation = state.poll_generation
            self._changed.notify_all()  # wakes an older poll, which then answers 409
            if offset:
                # An update is confirmed by asking for a higher offset.
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while True:
                if state.webhook:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first",
                    )
                if generation != state.poll_generation:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                ready = [u for u in state.updates if is_allowed(u, allowed)]
                remaining = deadline - time.monotonic()
                if self.offline:
                    raise DropConnection
                if ready or remaining <= 0 or self._closing:
                    return ready[:limit]
                self._changed.wait(remaining)

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = int_param(params, "chat_id")
        text = visible_text(params)
        with self._changed:
            state = self._state
            chat = state.chats.get(chat_id)
            if chat is None:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
            if chat_id in state.blocked:
                raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot was blocked by the user")
            self._enforce_limits(chat_id)
            message = {
                "message_id": state.next_message_id,
                "from": self.bot_user,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            state.next_message_id += 1
            sent = SentMessage(chat_id, text, state.next_message_id - 1, params, time.time())
            state.sent.append(sent)
            self._changed.notify_all()
        if self.on_sent is not None:
            self.on_sent(sent)
        return message

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat_id = int_param(params, "chat_id")
        message_id = int(params.get("message_id") or 0)
        text = visible_text(params)
        with self._changed:
            state = self._state
            index = next(
                (
                    i
                    for i, m in enumerate(state.sent)
                    if m.chat_id == chat_id and m.message_id == message_id
                ),
                None,
            )
            if index is None:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message to edit not found")
            old = state.sent[index]
            if old.text == text:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            state.sent[index] = SentMessage(chat_id, text, message_id, params, old.at)
            state.edits.append(state.sent[index])
            self._changed.notify_all()
            chat = state.chats[chat_id]
        return {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat,
            "date": int(old.at),
            "edit_date": int(time.time()),
            "text": text,
        }

    @property
    def edits(self) -> list[SentMessage]:
        """Every editMessageText the bot made, in order (the message as edited)."""
        with self._changed:
            return list(self._state.edits)

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(HTTPStatus.BAD_REQUEST, 'Bad Request: parameter "commands" is required')
        scope = params.get("scope")
        with self._changed:
            scoped_chat = scope.get("chat_id") if isinstance(scope, dict) else None
            if scoped_chat is not None and int(scoped_chat) not in self._state.chats:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
            self._state.commands[scope_key(params)] = commands
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        with self._changed:
            return self._state.commands.get(scope_key(params), [])

    def _delete_my_commands(self, params: JSONDict) -> bool:
        with self._changed:
            self._state.commands.pop(scope_key(params), None)
        return True

    def commands_for(self, scope: JSONDict | None = None) -> list[JSONDict]:
        """The command list the bot set for `scope` (default scope when None)."""
        return self._get_my_commands({"scope": scope} if scope else {})

    def _enforce_limits(self, chat_id: int) -> None:
        """Telegram's flood control: 429 with retry_after when a limit is reached (caller holds
        the lock). Counted at arrival, as Telegram can only count what reaches it."""
        if self.flood is None:
            return
        wait = self.flood.admit(chat_id, time.monotonic())
        if wait > 0:
            self.rate_limited += 1
            retry_after = self.flood.retry_after(wait)
            raise ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
