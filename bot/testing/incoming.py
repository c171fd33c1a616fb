"""What people do that reaches the bot: users write (`user_says`) in private chats, groups and
forum topics, channels post (`channel_post`), and users block the bot (`block`) or come back.

A message reaches the bot only where the bot is; in a group, in privacy mode, only commands
do unless it is an administrator (chats.reaches_bot). A topic message carries
message_thread_id, is_topic_message and, as reply_to_message, the topic's forum_topic_created
message (the Bot API server's implicit reply, Client.cpp get_implicit_reply_to_message_id),
unless the user replies to another message: an explicit reply wins."""

from __future__ import annotations

import time

from bot.testing.chats import PRESENT, bot_as_user, command_entities, reaches_bot, status_in
from bot.testing.entities import checked_entities
from bot.testing.model import ApiError, Emulated, JSONDict, Member
from bot.testing.replies import as_replied, find_message


class IncomingMethods(Emulated):
    """user_says, channel_post, block."""

    def user_says(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        username: str | None = None,
        chat: JSONDict | int | None = None,
        language_code: str | None = "en",
        thread_id: int | None = None,
        reply_to: int | JSONDict | None = None,
        entities: list[JSONDict] | None = None,
    ) -> JSONDict:
        """Queue a message from a user for the bot's next getUpdates; returns the Update.

        The chat is the user's private chat unless `chat` is given: a Chat object, or the id
        of a chat made with add_group or add_chat. `thread_id` posts into that forum topic.
        `language_code` is the IETF tag of the user's app ("de", "de-AT"); None leaves it out,
        as Telegram does for some users.

        `reply_to` makes it a reply: the id of a message in that chat (the bot's, or one the
        emulator keeps: a user's, a post, a topic's first message; ValueError for any other),
        which the Update carries as reply_to_message the way Telegram does (without a
        reply_to_message of its own); or a dict, put in as reply_to_message as given (a forged
        update, as a fake webhook POST could carry). `entities` are the MessageEntity dicts of
        formatted text (bold, ...), offsets in UTF-16 code units (ValueError for ones Telegram
        would refuse); the bot_command entity of a leading command is added as today.

        In a group made with add_group only its members can write (ValueError for anyone
        else); in other groups the writer joins by writing. A message that does not reach the
        bot (it is not in the chat; privacy mode) is kept in the chat but not queued: the
        Update returned is then the one Telegram would have sent.
        """
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code is not None:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = self._chat_for(user_id, first_name, chat)
            chat_id = chat["id"]
            state.users[user_id] = user
            if chat["type"] == "private" and chat_id in state.blocked:
                # Writing again unblocks the bot: Telegram says so first.
                state.blocked.discard(chat_id)
                self._private_member_update(chat, user, blocked=False)
            elif chat["type"] != "private":
                self._check_writer(chat_id, user_id)
            message: JSONDict = {
                "message_id": state.next_message_id,
                "from": user,
                "chat": chat,
                "date": int(time.time()),
            }
            if thread_id is not None:
                if thread_id not in state.topics.get(chat_id, set()):
                    raise ValueError(f"chat {chat_id} has no topic {thread_id} (see add_topic)")
                message["message_thread_id"] = thread_id
                root = state.topic_roots.get((chat_id, thread_id))
                if root is not None:
                    message["reply_to_message"] = root
            replied = self._replied_by_user(chat_id, reply_to)
            if replied is not None:
                message["reply_to_message"] = replied
            message["text"] = text
            if all_entities := _user_entities(text, entities):
                message["entities"] = all_entities
            if thread_id is not None:
                message["is_topic_message"] = True
            state.next_message_id += 1
            state.received[(chat_id, message["message_id"])] = message
            bot = status_in(state, chat_id, bot_id)
            to_bot = replied is not None and replied.get("from", {}).get("id") == bot_id
            heard = chat["type"] == "private" or (
                bot.status in PRESENT
                and (
                    chat_id not in state.listed
                    or reaches_bot(bot, self.bot_user, text, reply_to_bot=to_bot)
                )
            )
            if not heard:
                return {"update_id": state.next_update_id, "message": message}
            return self._queue_update("message", message)

    def channel_post(self, chat_id: int, text: str, *, author: str | None = None) -> JSONDict:
        """Someone posts `text` in the channel `chat_id` (add_channel); returns the
        channel_post Update, queued when the bot is in the channel.

        As Telegram shapes it: sender_chat is the channel, there is no `from`, and
        `author_signature` is the author's name when the channel signs its posts. The post is
        kept, so deleteMessage can delete it where Telegram lets the bot.
        """
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = state.chats.get(chat_id)
            if chat is None or chat["type"] != "channel":
                raise ValueError(f"no channel {chat_id}: add_channel first")
            post: JSONDict = {"message_id": state.next_message_id}
            if author is not None:
                post["author_signature"] = author
            post.update({"sender_chat": chat, "chat": chat, "date": int(time.time())})
            post["text"] = text
            if entities := command_entities(text):
                post["entities"] = entities
            state.next_message_id += 1
            state.received[(chat_id, post["message_id"])] = post
            if status_in(state, chat_id, bot_id).status not in PRESENT:
                return {"update_id": state.next_update_id, "channel_post": post}
            return self._queue_update("channel_post", post)

    def block(self, chat_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sending to this chat answers 403 from now on.

        Telegram then sends a my_chat_member update (the bot's status in the private chat goes
        from "member" to "kicked"); `notify=False` leaves it out. Writing to the bot again
        (`user_says`) unblocks it, with the reverse update.
        """
        with self._changed:
            state = self._state
            if chat_id in state.blocked:
                return
            state.blocked.add(chat_id)
            chat = state.chats.get(chat_id)
            if notify and chat is not None and chat["type"] == "private":
                user = state.users.get(chat_id) or {
                    "id": chat_id,
                    "is_bot": False,
                    "first_name": chat.get("first_name", "Test"),
                }
                self._private_member_update(chat, user, blocked=True)

    # -- shared by them (the caller holds the lock) ------------------------------------------

    def _replied_by_user(self, chat_id: int, reply_to: int | JSONDict | None) -> JSONDict | None:
        """The reply_to_message of a user's message that replies to `reply_to`."""
        if reply_to is None or isinstance(reply_to, dict):
            return reply_to
        replied = find_message(self._state, chat_id, reply_to)
        if replied is None:
            raise ValueError(f"chat {chat_id} has no message {reply_to} to reply to")
        return as_replied(replied)

    def _chat_for(self, user_id: int, first_name: str, chat: JSONDict | int | None) -> JSONDict:
        state = self._state
        if isinstance(chat, int):
            known = state.chats.get(chat)
            if known is None:
                raise ValueError(f"no chat {chat}: add_group or add_chat first")
            chat = known
        if chat is None:
            chat = {"id": user_id, "type": "private", "first_name": first_name}
        elif chat["type"] == "channel":
            raise ValueError("a channel's messages are its posts: see channel_post")
        elif chat["id"] in state.listed:
            return state.chats[chat["id"]]  # its people and topics are kept with it
        state.chats[chat["id"]] = chat
        return chat

    def _check_writer(self, chat_id: int, user_id: int) -> None:
        """Only a group's members write in it; in a group without a list, writing joins."""
        state = self._state
        members = state.members.setdefault(chat_id, {int(self.bot_user["id"]): Member("member")})
        if chat_id in state.listed:
            status = status_in(state, chat_id, user_id).status
            if status not in PRESENT:
                raise ValueError(f"user {user_id} is not in chat {chat_id} ({status})")
        elif members.get(user_id, Member("left")).status not in PRESENT:
            members[user_id] = Member("member")

    def _private_member_update(self, chat: JSONDict, user: JSONDict, *, blocked: bool) -> None:
        """TDLib's on_update_bot_stopped: the bot "kicked" when blocked, a "member" again when
        the user restarts it."""
        bot = bot_as_user(self.bot_user)
        member = {"user": bot, "status": "member"}
        kicked = {"user": bot, "status": "kicked", "until_date": 0}
        self._queue_update(
            "my_chat_member",
            {
                "chat": chat,
                "from": user,
                "date": int(time.time()),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )


def _user_entities(text: str, given: list[JSONDict] | None) -> list[JSONDict]:
    """The entities of a user's text: those given (checked as Telegram checks a bot's), and the
    bot_command of a leading command unless given too, by offset (longest first; the command
    first of two alike)."""
    try:
        entities = checked_entities(text, {"entities": list(given or [])}, "entities")
    except ApiError as exc:
        raise ValueError(f"Telegram would refuse these entities: {exc.description}") from None
    seen = {(e["type"], e["offset"]) for e in entities}
    command = [e for e in command_entities(text) if (e["type"], e["offset"]) not in seen]
    return sorted(command + entities, key=lambda e: (e["offset"], -e["length"]))
