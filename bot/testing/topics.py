"""Forum topics: `add_topic` opens one (Telegram's forum_topic_created service message, whose
id is the topic's message_thread_id), `delete_topic` and the Bot API's deleteForumTopic
delete one with its messages; sends to a topic the chat lacks answer "message thread not
found" (sending.py).

From the Bot API server's Client.cpp (check_message_topic, process_delete_forum_topic_query)
and TDLib's ForumTopicManager.cpp (delete_forum_topic, is_forum)."""

from __future__ import annotations

import time
from http import HTTPStatus

from bot.testing.chats import check_access, in_charge, status_in, topic_root
from bot.testing.model import ApiError, Emulated, JSONDict, State, int_param

GENERAL_TOPIC_ID = 1  # the General topic every forum has: no message_thread_id of its own


def open_topic(state: State, chat: JSONDict, thread_id: int, name: str) -> JSONDict:
    """Make `thread_id` a topic of the supergroup `chat` (a forum from now on) and return its
    forum_topic_created message, sent by whoever is in charge of the chat."""
    if chat["type"] != "supergroup":
        raise ValueError("only a supergroup has topics")
    if thread_id <= GENERAL_TOPIC_ID:
        raise ValueError(f"a topic's thread id is above {GENERAL_TOPIC_ID} (General's)")
    chat["is_forum"] = True
    by = in_charge(state, chat["id"])
    sender = state.users[by] if by is not None else None
    root = topic_root(chat, thread_id, name, sender, int(time.time()))
    state.topics.setdefault(chat["id"], set()).add(thread_id)
    state.topic_roots[(chat["id"], thread_id)] = root
    return root


class TopicMethods(Emulated):
    """add_topic, delete_topic, and deleteForumTopic."""

    def add_topic(self, chat_id: int, thread_id: int | None = None, *, name: str = "Topic") -> int:
        """Open a topic in the supergroup `chat_id` (a forum from now on); returns its thread id.

        `thread_id` None takes the next message id, as Telegram does: a topic's id is the id of
        its forum_topic_created message. That message reaches the bot, as service messages do,
        when the bot is in the chat. It is sent by the chat's creator, else its first
        administrator, else an anonymous administrator.
        """
        with self._changed:
            state = self._state
            chat = state.chats.get(chat_id)
            if chat is None:
                raise ValueError(f"no chat {chat_id}: add_group(..., chat_type='supergroup') first")
            if thread_id is None:
                # A supergroup's message 1 is its creation, never a topic (General is 1).
                thread_id = max(state.next_message_id, GENERAL_TOPIC_ID + 1)
            if thread_id in state.topics.get(chat_id, set()):
                raise ValueError(f"chat {chat_id} has a topic {thread_id} already")
            root = open_topic(state, chat, thread_id, name)
            state.next_message_id = max(state.next_message_id, thread_id + 1)
            if status_in(state, chat_id, int(self.bot_user["id"])).status in (
                "creator",
                "administrator",
                "member",
            ):
                self._queue_update("message", root)
        return thread_id

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """Someone deletes a topic: its messages go with it (from `sent` too), and sends to it
        answer "message thread not found" from now on."""
        with self._changed:
            if thread_id not in self._state.topics.get(chat_id, set()):
                raise ValueError(f"chat {chat_id} has no topic {thread_id}")
            self._drop_topic(chat_id, thread_id)

    # -- the API -------------------------------------------------------------------------

    def _delete_forum_topic(self, params: JSONDict) -> bool:
        chat_id = int_param(params, "chat_id")
        thread_id = _topic_id(params)
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = check_access(state, chat_id, bot_id, "write")
            if not chat.get("is_forum"):
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: the chat is not a forum")
            if thread_id <= 0:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, "Bad Request: invalid forum topic identifier specified"
                )
            if thread_id not in state.topics.get(chat_id, set()):
                # Ours: the error Telegram's servers give for a topic that is not there.
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: TOPIC_ID_INVALID")
            root = state.topic_roots.get((chat_id, thread_id), {})
            created_by_bot = root.get("from", {}).get("id") == bot_id
            rights = status_in(state, chat_id, bot_id).rights
            if not (rights.get("can_delete_messages") or created_by_bot):
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, "Bad Request: not enough rights to delete the topic"
                )
            self._drop_topic(chat_id, thread_id)
        return True

    def _drop_topic(self, chat_id: int, thread_id: int) -> None:
        """The topic and its messages are gone (the caller holds the lock)."""
        state = self._state
        state.topics[chat_id].discard(thread_id)
        state.topic_roots.pop((chat_id, thread_id), None)
        state.sent = [
            m
            for m in state.sent
            if not (m.chat_id == chat_id and m.message.get("message_thread_id") == thread_id)
        ]
        state.received = {
            key: m
            for key, m in state.received.items()
            if not (key[0] == chat_id and m.get("message_thread_id") == thread_id)
        }
        state.rewrites += 1
        self._changed.notify_all()


def _topic_id(params: JSONDict) -> int:
    """The server's get_forum_topic_id: what is no whole number, or is negative, is 0."""
    try:
        return max(int(str(params.get("message_thread_id"))), 0)
    except ValueError:
        return 0
