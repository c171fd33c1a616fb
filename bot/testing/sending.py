"""What every send method shares: the chat (the bot in it and allowed to post), topic,
blocked-user and flood checks, the common parameters (reply_markup, reply_parameters,
protect_content, message_thread_id, disable_notification), and recording the message sent."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus

from bot.testing.chats import bot_as_user, check_access, check_can_post
from bot.testing.flood import FloodControl, arrived_at
from bot.testing.keyboards import reply_markup
from bot.testing.model import ApiError, Emulated, JSONDict, SentMessage, int_param, truthy
from bot.testing.replies import NOT_FOUND, ReplyTo, as_replied, find_message, reply_parameters


class Outbox(Emulated):
    """Posting a message to a chat, as sendMessage, sendPhoto and sendDocument all do."""

    flood: FloodControl | None
    rate_limited: int
    latency: float

    def _post(
        self,
        method: str,
        params: JSONDict,
        *,
        text: str,
        entities: list[JSONDict],
        content: Callable[[], JSONDict],
        media: str | None = None,
        check: Callable[[], None] | None = None,
    ) -> JSONDict:
        """Post a message to `params["chat_id"]` and return the Message Telegram answers with.

        `check` raises the method's own 400s once the chat is known, before the 403 and 429
        that only Telegram's servers give; `content` then adds the method's fields (text,
        photo, caption, ...). Both run under the lock. `disable_notification` only changes how
        the user's device rings, so it is kept in `params` and nowhere else.
        """
        chat_id = int_param(params, "chat_id")
        markup = reply_markup(params.get("reply_markup"))
        buttons = markup.buttons
        reply_to = reply_parameters(params, chat_id)
        thread_id = _thread_id(params)
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            # The server's check_chat: unknown chat, upgraded group, the bot not (or no longer)
            # in it; then TDLib's can_send_message_to_dialog: a channel wants an administrator.
            chat = check_access(state, chat_id, bot_id, "write")
            check_can_post(state, chat, bot_id)
            # Telegram's check_message_topic refuses a thread a forum (or a private chat) lacks.
            # Ours: a non-forum group is refused too, where Telegram ignores the id; a bot that
            # sends one there has mixed its chats up.
            if thread_id and thread_id not in state.topics.get(chat_id, set()):
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message thread not found")
            if markup.force_reply and chat["type"] == "channel":
                # TDLib's get_reply_markup: a channel posts anonymously, with inline keyboards only.
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: inline keyboard expected")
            if check is not None:
                check()
            replied = self._replied_by_bot(chat_id, reply_to)
            if chat_id in state.blocked:
                raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot was blocked by the user")
            self._enforce_limits(chat_id)
            message: JSONDict = {"message_id": state.next_message_id}
            if chat["type"] == "channel":
                message["sender_chat"] = chat  # a channel's posts are the channel's, no `from`
            else:
                message["from"] = bot_as_user(self.bot_user)
            message.update(chat=chat, date=int(time.time()))
            if thread_id:
                message["message_thread_id"] = thread_id
                message["is_topic_message"] = True
                # The server's implicit reply: a topic's messages answer its first one.
                root = state.topic_roots.get((chat_id, thread_id))
                if root is not None:
                    message["reply_to_message"] = root
            if replied is not None:  # an explicit reply wins over the topic's implicit one
                message["reply_to_message"] = as_replied(replied)
            message.update(content())
            if truthy(params.get("protect_content")):
                message["has_protected_content"] = True
            if buttons:
                message["reply_markup"] = {"inline_keyboard": buttons}
            state.next_message_id += 1
            sent = SentMessage(
                chat_id,
                text,
                message["message_id"],
                params,
                time.time(),
                method=method,
                entities=entities,
                buttons=buttons,
                media=media,
                force_reply=markup.force_reply,
                placeholder=markup.placeholder,
                reply_to=None if replied is None else int(replied["message_id"]),
                message=message,
            )
            state.sent.append(sent)
            self._changed.notify_all()
        if self.on_sent is not None:
            self.on_sent(sent)
        return message

    def _replied_by_bot(self, chat_id: int, reply_to: ReplyTo | None) -> JSONDict | None:
        """The message a send replies to (the caller holds the lock): None for no reply, or for
        a message the chat lacks when allow_sending_without_reply (else the server's 400)."""
        if reply_to is None:
            return None
        replied = find_message(self._state, chat_id, reply_to.message_id)
        if replied is None and not reply_to.allow_sending_without_reply:
            raise ApiError(HTTPStatus.BAD_REQUEST, NOT_FOUND)
        return replied

    def _enforce_limits(self, chat_id: int) -> None:
        """Telegram's flood control: 429 with retry_after when a limit is reached (caller holds
        the lock). Counted at arrival, as Telegram can only count what reaches it."""
        if self.flood is None:
            return
        # The latency models the way there and back, all of it before the request counts.
        wait = self.flood.admit(chat_id, arrived_at() + self.latency)
        if wait > 0:
            self.rate_limited += 1
            retry_after = self.flood.retry_after(wait)
            raise ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )


def _thread_id(params: JSONDict) -> int | None:
    value = params.get("message_thread_id")
    if value in (None, "", 0, "0"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        # Ours: an id that is no number names no thread.
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message thread not found") from None
