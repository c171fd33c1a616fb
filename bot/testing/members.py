"""Groups, supergroups and channels with people in them: who is a member, who administers,
the bot added (`add_bot`, as a https://t.me/<bot>?startgroup=<payload> link does) and removed
(`remove_bot`), a group upgraded to a supergroup (`migrate_group`), and getChatMember.

The updates are the Bot API server's: my_chat_member (JsonChatMemberUpdated) from TDLib's
updateChatMember, whose statuses DialogParticipantManager.cpp sets (on_update_chat_participant:
a basic group's removed member is "left"; a supergroup's or a channel's removed one is
"kicked", until_date 0, as Telegram's apps remove people by banning them)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from http import HTTPStatus

from bot.testing.chats import (
    DEEP_LINK_PAYLOAD,
    PRESENT,
    admin_rights,
    bot_as_user,
    check_access,
    check_chat_id,
    command_entities,
    group_chat,
    in_charge,
    member_json,
    status_in,
)
from bot.testing.model import ApiError, Emulated, JSONDict, Member, int_param
from bot.testing.topics import open_topic


class MemberMethods(Emulated):
    """add_chat, add_group, add_channel, add_bot, remove_bot, migrate_group, getChatMember."""

    def add_chat(
        self, chat_id: int, *, chat_type: str = "private", topics: Iterable[int] = ()
    ) -> None:
        """Make a chat known without a message from it (Telegram knows chats that met the bot).

        `topics` makes it a forum supergroup (`is_forum`) with those message thread ids: only
        they are accepted as `message_thread_id`. The bot is in a group or supergroup made
        here as a member, in a channel as an administrator; nobody else is listed (use
        add_group or add_channel for a chat with people in it).
        """
        threads = set(topics)
        if threads and chat_type != "supergroup":
            raise ValueError("only a supergroup has topics: add_chat(..., chat_type='supergroup')")
        with self._changed:
            state = self._state
            chat = state.chats.setdefault(chat_id, {"id": chat_id, "type": chat_type})
            if chat["type"] != "private":
                chat.setdefault("title", f"Test {chat['type']} {chat_id}")
                bot = Member("administrator", admin_rights("channel"))
                if chat["type"] != "channel":
                    bot = Member("member")
                state.members.setdefault(chat_id, {int(self.bot_user["id"]): bot})
            for thread_id in sorted(threads):
                open_topic(state, chat, thread_id, f"Topic {thread_id}")

    def add_group(
        self,
        chat_id: int,
        *,
        title: str | None = None,
        chat_type: str = "group",
        creator: int | None = None,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        kicked: Iterable[int] = (),
        topics: Iterable[int] = (),
        bot_status: str | None = None,
        bot_rights: Mapping[str, bool] | None = None,
        username: str | None = None,
    ) -> JSONDict:
        """A group (`chat_type="group"`, ids -1 to -999999999999) or supergroup ("supergroup",
        ids -100xxxxxxxxxx) with these people in it; returns its Chat object.

        `bot_status` is the bot's place in it: None (not in it: it knows the chat, say it left
        it, so calls into it answer 403 "bot is not a member of the ... chat"; a chat the bot
        never met is one not added at all: 400 "chat not found"), "member" or "administrator"
        (`bot_rights` override the default rights: all but can_promote_members and
        is_anonymous; a basic group's administrators have one fixed set). `kicked` users are
        banned (a basic group keeps no such list: getChatMember answers "left" there).
        `topics` makes a supergroup a forum with those thread ids; `username` makes it public.

        The member list is the whole truth: only these people can write there (`user_says`),
        and the bot, in privacy mode, hears only commands unless it is an administrator.
        """
        if chat_type == "channel":
            raise ValueError("a channel is made with add_channel")
        return self._add_listed(
            chat_id,
            chat_type,
            title=title,
            creator=creator,
            admins=admins,
            members=members,
            kicked=kicked,
            topics=topics,
            bot_status=bot_status,
            bot_rights=bot_rights,
            username=username,
        )

    def add_channel(
        self,
        chat_id: int,
        *,
        title: str | None = None,
        creator: int | None = None,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        bot_status: str | None = "administrator",
        bot_rights: Mapping[str, bool] | None = None,
        username: str | None = None,
    ) -> JSONDict:
        """A channel (id -100xxxxxxxxxx) with these administrators and subscribers; returns its
        Chat object. The bot posts there only as an administrator with can_post_messages
        (else sendMessage answers 400 "need administrator rights in the channel chat");
        `bot_status` None: not in it (403 "bot is not a member of the channel chat")."""
        return self._add_listed(
            chat_id,
            "channel",
            title=title,
            creator=creator,
            admins=admins,
            members=members,
            kicked=(),
            topics=(),
            bot_status=bot_status,
            bot_rights=bot_rights,
            username=username,
        )

    def add_bot(
        self,
        chat_id: int,
        *,
        by: int,
        start: str | None = None,
        as_admin: bool = False,
        rights: Mapping[str, bool] | None = None,
    ) -> list[JSONDict]:
        """User `by` adds the bot to the group, supergroup or channel `chat_id`; returns the
        updates Telegram creates (those the bot's allowed_updates leave out are not queued).

        They are: my_chat_member (old status "left", or "kicked" if it was banned; new
        "member", or "administrator" with `rights` when `as_admin`); in a group the service
        message with new_chat_members; and, with `start` (the payload of a
        https://t.me/<bot>?startgroup=<payload> link), the "/start@<bot username> <payload>"
        message Telegram then sends on the user's behalf. A channel takes bots only as
        administrators, and has no /start.
        """
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = self._listed_chat(chat_id)
            old = status_in(state, chat_id, bot_id)
            if old.status in PRESENT:
                raise ValueError(f"the bot is in chat {chat_id} already ({old.status})")
            adder = self._present_user(chat_id, by)
            is_channel = chat["type"] == "channel"
            if is_channel and (not as_admin or start is not None):
                raise ValueError("a channel takes the bot only as an administrator, without /start")
            if as_admin and status_in(state, chat_id, by).status not in (
                "creator",
                "administrator",
            ):
                raise ValueError(f"user {by} is no administrator of chat {chat_id}")
            if start is not None and not DEEP_LINK_PAYLOAD.fullmatch(start):
                raise ValueError("a startgroup payload is 1-64 characters of A-Za-z0-9_-")
            new = Member("administrator", admin_rights(chat["type"], rights))
            if not as_admin:
                new = Member("member")
            state.members[chat_id][bot_id] = new
            updates = [self._my_chat_member(chat, adder, old, new)]
            now = int(time.time())
            if not is_channel:
                bot = bot_as_user(self.bot_user)
                joined = self._group_message(
                    chat,
                    adder,
                    {
                        "new_chat_participant": bot,
                        "new_chat_member": bot,
                        "new_chat_members": [bot],
                    },
                    now,
                )
                updates.append(self._queue_update("message", joined))
            if start is not None:
                text = f"/start@{self.bot_user['username']} {start}"
                content = {"text": text, "entities": command_entities(text)}
                message = self._group_message(chat, adder, content, now)
                updates.append(self._queue_update("message", message))
        return updates

    def remove_bot(self, chat_id: int, *, by: int) -> JSONDict:
        """User `by` removes the bot from the chat; returns the my_chat_member update.

        Its new status is "left" in a basic group, "kicked" in a supergroup or channel. From
        now on sends, edits and deletes there answer 403 "bot was kicked from the group chat"
        (supergroup chat, channel chat), as Telegram does.
        """
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            chat = self._listed_chat(chat_id)
            old = status_in(state, chat_id, bot_id)
            if old.status not in PRESENT:
                raise ValueError(f"the bot is not in chat {chat_id}")
            remover = self._present_user(chat_id, by)
            new = Member("kicked")  # a basic group shows it as "left" (member_json)
            state.members[chat_id][bot_id] = new
            return self._my_chat_member(chat, remover, old, new)

    def migrate_group(self, chat_id: int, new_chat_id: int, *, by: int | None = None) -> JSONDict:
        """The basic group `chat_id` is upgraded to the supergroup `new_chat_id` (by `by`, else
        its creator or first administrator); returns the supergroup's Chat object.

        Its people, and the bot, move over (creator, administrators, members). When the bot
        was in the group it gets the service messages: migrate_to_chat_id in the old chat,
        migrate_from_chat_id in the new one. Calls that write to the old id answer 400 "group
        chat was upgraded to a supergroup chat" with parameters.migrate_to_chat_id.
        """
        check_chat_id(new_chat_id, "supergroup")
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            old_chat = state.chats.get(chat_id)
            if old_chat is None or old_chat["type"] != "group":
                raise ValueError(f"chat {chat_id} is no basic group")
            if chat_id in state.migrated:
                raise ValueError(f"chat {chat_id} was upgraded already")
            if new_chat_id in state.chats:
                raise ValueError(f"chat {new_chat_id} exists already")
            by = by if by is not None else in_charge(state, chat_id)
            if by is None:
                raise ValueError(f"chat {chat_id} has no creator or administrator: say by=")
            upgrader = self._present_user(chat_id, by)
            new_chat = group_chat(
                new_chat_id, "supergroup", old_chat["title"], username=None, forum=False
            )
            state.chats[new_chat_id] = new_chat
            moved: dict[int, Member] = {}
            for user_id, member in state.members.get(chat_id, {}).items():
                if member.status == "administrator":
                    moved[user_id] = Member("administrator", admin_rights("supergroup"))
                elif member.status in PRESENT:
                    moved[user_id] = Member(member.status, dict(member.rights))
            state.members[new_chat_id] = moved
            if chat_id in state.listed:
                state.listed.add(new_chat_id)
            state.migrated[chat_id] = new_chat_id
            if moved.get(bot_id) is not None:
                now = int(time.time())
                for chat, content in (
                    (old_chat, {"migrate_to_chat_id": new_chat_id}),
                    (new_chat, {"migrate_from_chat_id": chat_id}),
                ):
                    message = self._group_message(chat, upgrader, content, now, keep=False)
                    self._queue_update("message", message)
            return new_chat

    # -- the API -------------------------------------------------------------------------

    def _get_chat_member(self, params: JSONDict) -> JSONDict:
        if params.get("chat_id") in (None, ""):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat_id is empty")
        chat_id = int_param(params, "chat_id")
        user_id = _user_id(params)
        bot_id = int(self.bot_user["id"])
        with self._changed:
            state = self._state
            # The server's check_chat: the bot's own status needs less access than others'.
            chat = check_access(
                state, chat_id, bot_id, "read" if user_id == bot_id else "read_members"
            )
            bot = status_in(state, chat_id, bot_id)
            if chat["type"] == "channel" and bot.status not in ("creator", "administrator"):
                # TDLib's get_channel_participant: a channel's members are for its admins only.
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: member list is inaccessible")
            user = bot_as_user(self.bot_user) if user_id == bot_id else state.users.get(user_id)
            if chat["type"] == "private":
                # TDLib: a private chat has two members, the user and the bot.
                if user_id not in (bot_id, chat_id):
                    raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: member not found")
                user = user or _private_user(chat)
                return member_json(user, Member("member"), "private")
            if user is None:
                # Someone the bot has never seen: TDLib cannot name them.
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: member not found")
            return member_json(user, status_in(state, chat_id, user_id), chat["type"])

    # -- shared by them (the caller holds the lock) ------------------------------------------

    def _add_listed(
        self,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None,
        creator: int | None,
        admins: Iterable[int],
        members: Iterable[int],
        kicked: Iterable[int],
        topics: Iterable[int],
        bot_status: str | None,
        bot_rights: Mapping[str, bool] | None,
        username: str | None,
    ) -> JSONDict:
        check_chat_id(chat_id, chat_type)
        threads = sorted(set(topics))
        if threads and chat_type != "supergroup":
            raise ValueError("only a supergroup has topics")
        people: dict[int, Member] = {}
        for user_id in kicked:
            people[user_id] = Member("kicked")
        for user_id in members:
            people[user_id] = Member("member")
        for user_id in admins:
            people[user_id] = Member("administrator", admin_rights(chat_type))
        if creator is not None:
            people[creator] = Member("creator")
        bot_id = int(self.bot_user["id"])
        if bot_id in people:
            raise ValueError("the bot's place is bot_status, not a list of people")
        bot = _bot_member(chat_type, bot_status, bot_rights)
        if bot is not None:
            people[bot_id] = bot
        chat = group_chat(
            chat_id,
            chat_type,
            title or f"Test {chat_type} {chat_id}",
            username=username,
            forum=bool(threads),
        )
        with self._changed:
            state = self._state
            if chat_id in state.chats:
                raise ValueError(f"chat {chat_id} exists already")
            for user_id in people:
                if user_id != bot_id:
                    self._known_user(user_id)
            state.chats[chat_id] = chat
            state.members[chat_id] = people
            state.listed.add(chat_id)
            for thread_id in threads:
                open_topic(state, chat, thread_id, f"Topic {thread_id}")
        return chat

    def _listed_chat(self, chat_id: int) -> JSONDict:
        chat = self._state.chats.get(chat_id)
        if chat is None or chat_id not in self._state.members:
            raise ValueError(f"no group or channel {chat_id}: add_group or add_channel first")
        if chat_id in self._state.migrated:
            raise ValueError(f"group {chat_id} was upgraded to {self._state.migrated[chat_id]}")
        return chat

    def _present_user(self, chat_id: int, user_id: int) -> JSONDict:
        """The User `user_id`, who must be in the chat (ValueError if not)."""
        if status_in(self._state, chat_id, user_id).status not in PRESENT:
            raise ValueError(f"user {user_id} is not in chat {chat_id}")
        return self._known_user(user_id)

    def _known_user(self, user_id: int) -> JSONDict:
        """The User `user_id` as the bot has seen them; one named "User <id>" if not yet."""
        return self._state.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        )

    def _my_chat_member(self, chat: JSONDict, by: JSONDict, old: Member, new: Member) -> JSONDict:
        bot = bot_as_user(self.bot_user)
        return self._queue_update(
            "my_chat_member",
            {
                "chat": chat,
                "from": by,
                "date": int(time.time()),
                "old_chat_member": member_json(bot, old, chat["type"]),
                "new_chat_member": member_json(bot, new, chat["type"]),
            },
        )

    def _group_message(
        self, chat: JSONDict, sender: JSONDict, content: JSONDict, date: int, *, keep: bool = True
    ) -> JSONDict:
        """A message from `sender` in a group, kept among the users' messages (`keep`) so the
        bot can delete it where Telegram lets it."""
        state = self._state
        message: JSONDict = {
            "message_id": state.next_message_id,
            "from": sender,
            "chat": chat,
            "date": date,
            **content,
        }
        state.next_message_id += 1
        if keep:
            state.received[(chat["id"], message["message_id"])] = message
        return message


def _bot_member(
    chat_type: str, bot_status: str | None, bot_rights: Mapping[str, bool] | None
) -> Member | None:
    if bot_status not in (None, "member", "administrator"):
        raise ValueError("bot_status is None, 'member' or 'administrator'")
    if bot_rights and bot_status != "administrator":
        raise ValueError("bot_rights are for bot_status='administrator'")
    if bot_status == "administrator":
        return Member("administrator", admin_rights(chat_type, bot_rights))
    return Member("member") if bot_status == "member" else None


def _user_id(params: JSONDict) -> int:
    """The server's get_user_id: what is no positive whole number is refused."""
    try:
        user_id = int(str(params.get("user_id")))
    except ValueError:
        user_id = 0
    if user_id <= 0:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: invalid user_id specified")
    return user_id


def _private_user(chat: JSONDict) -> JSONDict:
    user: JSONDict = {"id": chat["id"], "is_bot": False, "first_name": chat.get("first_name", "")}
    if chat.get("username"):
        user["username"] = chat["username"]
    return user
