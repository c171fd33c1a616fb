"""Inline buttons pressed: `tap` queues the callback_query update Telegram sends when a user
presses a button under a bot's message, and answerCallbackQuery answers each query once."""

from __future__ import annotations

import hashlib
from http import HTTPStatus

from bot.testing.formatting import utf16_len
from bot.testing.model import ApiError, Emulated, JSONDict, SentMessage

MAX_ANSWER_TEXT = 200  # "0-200 characters", counted here in UTF-16 code units like texts
# Telegram's query ids are 64-bit numbers, as strings; these count up from 2**62.
QUERY_ID_BASE = 1 << 62
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class CallbackMethods(Emulated):
    """tap (the user's side), answerCallbackQuery, and the answers the bot gave."""

    def tap(
        self,
        chat_id: int,
        message_id: int,
        *,
        button: str | None = None,
        data: str | None = None,
        user_id: int | None = None,
        first_name: str = "Test",
        language_code: str | None = "en",
    ) -> str:
        """A user presses an inline button under message `message_id` the bot sent to
        `chat_id`: queue the callback_query update Telegram sends for it; returns the query id.

        `button` is the button's text: it must be under that message and carry callback_data.
        `data` instead forges any callback_data, as a modified client can. `user_id` (who
        pressed) defaults to `chat_id`, the user of a private chat; `language_code` is their
        app's language (None: not sent). Raises ValueError for a message or button the bot
        never sent.
        """
        if (button is None) == (data is None):
            raise ValueError("give exactly one of button= and data=")
        with self._changed:
            state = self._state
            sent = next(
                (m for m in state.sent if m.chat_id == chat_id and m.message_id == message_id),
                None,
            )
            if sent is None:
                raise ValueError(f"the bot sent no message {message_id} to chat {chat_id}")
            if button is not None:
                data = _callback_data(sent, button)
            if user_id is None:
                if sent.message["chat"]["type"] != "private":
                    raise ValueError(f"chat {chat_id} is no private chat: say who taps (user_id=)")
                user_id = chat_id
            user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
            if language_code is not None:
                user["language_code"] = language_code
            query_id = str(QUERY_ID_BASE + state.next_query)
            state.next_query += 1
            state.queries[query_id] = None
            self._queue_update(
                "callback_query",
                {
                    "id": query_id,
                    "from": user,
                    "message": sent.message,
                    "chat_instance": _chat_instance(int(self.bot_user["id"]), chat_id),
                    "data": data,
                },
            )
        return query_id

    @property
    def answers(self) -> list[JSONDict]:
        """Every answerCallbackQuery Telegram accepted, in order (its parameters)."""
        with self._changed:
            return list(self._state.answers)

    def wait_for_answer(self, query_id: str, *, timeout: float = 10.0) -> JSONDict:
        """Block until the bot answers the callback query `query_id` (from `tap`); returns the
        answer's parameters (callback_query_id, text, show_alert, ...), or raises TimeoutError."""
        with self._changed:
            if query_id not in self._state.queries:
                raise ValueError(f"no callback query {query_id!r} was made (see tap)")
            self._changed.wait_for(lambda: self._state.queries[query_id] is not None, timeout)
            answer = self._state.queries[query_id]
        if answer is None:
            raise TimeoutError(f"the bot did not answer callback query {query_id}")
        return answer

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        text = params.get("text")
        with self._changed:
            state = self._state
            # An unknown id and one already answered get the same answer from Telegram.
            if query_id not in state.queries or state.queries[query_id] is not None:
                raise ApiError(HTTPStatus.BAD_REQUEST, QUERY_INVALID)
            if text is not None and utf16_len(str(text)) > MAX_ANSWER_TEXT:
                # Telegram passes its server's error through here, in capitals.
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: MESSAGE_TOO_LONG")
            answer = {**params, "callback_query_id": query_id}
            state.queries[query_id] = answer
            state.answers.append(answer)
            self._changed.notify_all()
        return True


def _callback_data(sent: SentMessage, text: str) -> str:
    """The callback_data of the button labelled `text` under `sent` (ValueError if none)."""
    labels = [button.get("text") for row in sent.buttons for button in row]
    for row in sent.buttons:
        for button in row:
            if button.get("text") != text:
                continue
            if "callback_data" not in button:
                raise ValueError(f"button {text!r} sends no callback_data: {button}")
            return str(button["callback_data"])
    raise ValueError(f"no button {text!r} under message {sent.message_id}; buttons: {labels}")


def _chat_instance(bot_id: int, chat_id: int) -> str:
    """Telegram's chat_instance: one opaque 64-bit number per chat (and bot), as a string."""
    digest = hashlib.sha256(f"{bot_id}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))
