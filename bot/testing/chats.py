"""Groups, supergroups and channels as Telegram keeps them: their ids, Chat objects, the
ChatMember objects it answers with, who may do what in them, and the Bot API server's
check_chat_access (what a call into a chat gets when the bot is not, or no longer, in it).

Written from the Bot API server's Client.cpp (check_chat_access, JsonChat, JsonChatMember,
json_store_administrator_rights) and TDLib (ChatId.h, ChannelId.h, DialogParticipant.cpp,
DialogParticipantManager.cpp). Pure functions over State: the callers hold the lock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Literal

from bot.testing.formatting import utf16_len
from bot.testing.model import ApiError, JSONDict, Member, State

# TDLib: a basic group's chat id is -(1..999999999999); a supergroup's or a channel's is
# -1000000000000 - (1..1000000000000 - 2**31): "-100" and ten or more digits, as a rule.
MAX_BASIC_GROUP_ID = 999_999_999_999
ZERO_CHANNEL_ID = -1_000_000_000_000
MAX_CHANNEL_ID = 1_000_000_000_000 - (1 << 31)

GROUP_TYPES = ("group", "supergroup", "channel")
PRESENT = ("creator", "administrator", "member")  # in the chat (the other statuses: not)

# The Bot API server's access levels (Client.h AccessRights): getChatMember for the bot itself
# needs "read", for anyone else "read_members"; editing needs "edit", sending "write".
Access = Literal["read", "read_members", "edit", "write"]

# Rights fields in the order json_store_administrator_rights writes them, and in which chats.
_ALL = GROUP_TYPES
_RIGHTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("can_manage_chat", _ALL),
    ("can_change_info", _ALL),
    ("can_post_messages", ("channel",)),
    ("can_edit_messages", ("channel",)),
    ("can_delete_messages", _ALL),
    ("can_invite_users", _ALL),
    ("can_restrict_members", _ALL),
    ("can_pin_messages", ("group", "supergroup")),
    ("can_manage_topics", ("supergroup",)),
    ("can_promote_members", _ALL),
    ("can_manage_video_chats", _ALL),
    ("can_post_stories", _ALL),
    ("can_edit_stories", _ALL),
    ("can_delete_stories", _ALL),
    ("can_manage_direct_messages", ("channel",)),
    ("can_manage_tags", ("group", "supergroup")),
    ("is_anonymous", _ALL),
)
RIGHTS = tuple(name for name, _ in _RIGHTS)
# A basic group's administrators all have the same rights (TDLib GroupAdministrator).
_BASIC_GROUP_RIGHTS = frozenset(
    {
        "can_manage_chat",
        "can_change_info",
        "can_delete_messages",
        "can_invite_users",
        "can_restrict_members",
        "can_pin_messages",
        "can_manage_video_chats",
        "can_manage_tags",
    }
)
# Ours, for supergroups and channels: what an administrator added without a say about rights
# gets. Everything but promoting others and anonymity.
_NOT_BY_DEFAULT = frozenset({"can_promote_members", "is_anonymous"})

# Who posts for an anonymous administrator of a group (Telegram's @GroupAnonymousBot).
ANONYMOUS_ADMIN: JSONDict = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
TOPIC_ICON_COLOR = 0x6FB9F0  # the first of the six colours Telegram gives new topics
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_chat_id(chat_id: int, chat_type: str) -> None:
    """ValueError unless `chat_id` is a possible id for a chat of `chat_type`."""
    if chat_type == "group":
        if not -MAX_BASIC_GROUP_ID <= chat_id <= -1:
            raise ValueError(f"a basic group's id is -1..-{MAX_BASIC_GROUP_ID}, not {chat_id}")
    elif chat_type in ("supergroup", "channel"):
        if not 0 < ZERO_CHANNEL_ID - chat_id < MAX_CHANNEL_ID:
            raise ValueError(
                f"a {chat_type}'s id is -100 followed by its number (e.g. -1001234567890), "
                f"not {chat_id}"
            )
    else:
        raise ValueError(f"chat_type must be one of {GROUP_TYPES}, not {chat_type!r}")


def group_chat(
    chat_id: int, chat_type: str, title: str, *, username: str | None, forum: bool
) -> JSONDict:
    """The Chat object of a group, supergroup or channel, as JsonChat writes it."""
    chat: JSONDict = {"id": chat_id, "title": title}
    if username:
        chat["username"] = username
    if forum:
        chat["is_forum"] = True
    chat["type"] = chat_type
    if chat_type == "group":
        chat["all_members_are_administrators"] = False
    return chat


def admin_rights(chat_type: str, given: Mapping[str, bool] | None = None) -> JSONDict:
    """An administrator's rights in a chat of `chat_type`: every field Telegram writes for
    that type, `given` ones as given, the rest by default. A basic group has one fixed set."""
    unknown = set(given or ()) - set(RIGHTS)
    if unknown:
        raise ValueError(f"unknown administrator rights {sorted(unknown)}; known: {RIGHTS}")
    if chat_type == "group":
        if given:
            raise ValueError("a basic group's administrators all have the same rights")
        return {name: name in _BASIC_GROUP_RIGHTS for name in RIGHTS}
    rights = {name: name not in _NOT_BY_DEFAULT for name in RIGHTS}
    rights.update({name: bool(value) for name, value in (given or {}).items()})
    return rights


def member_json(user: JSONDict, member: Member, chat_type: str) -> JSONDict:
    """The ChatMember object (JsonChatMember) for `member` in a chat of `chat_type`."""
    status = member.status
    if status == "kicked" and chat_type == "group":
        status = "left"  # a basic group keeps no list of the removed: TDLib answers left
    if chat_type == "private" and status in PRESENT:
        status = "member"
    answer: JSONDict = {"user": user, "status": status}
    if status == "creator":
        answer["is_anonymous"] = bool(member.rights.get("is_anonymous", False))
    elif status == "administrator":
        answer["can_be_edited"] = False  # only for admins the bot promoted: none here
        for name, types in _RIGHTS:
            if chat_type in types:
                answer[name] = bool(member.rights.get(name, False))
        # Telegram still writes the pre-6.0 name too.
        answer["can_manage_voice_chats"] = answer["can_manage_video_chats"]
    elif status == "kicked":
        answer["until_date"] = 0  # for ever
    return answer


def bot_as_user(bot_user: JSONDict) -> JSONDict:
    """The bot as a User in messages and members (getMe's extra fields are getMe's alone)."""
    keys = ("id", "is_bot", "first_name", "last_name", "username")
    return {key: bot_user[key] for key in keys if key in bot_user}


def status_in(state: State, chat_id: int, user_id: int) -> Member:
    """A user's (or the bot's) place in a group, supergroup or channel; "left" if none.
    A chat Telegram showed without a member list (add_chat, a message in it) has the bot in it."""
    members = state.members.get(chat_id)
    if members is None:
        return Member("member")
    return members.get(user_id, Member("left"))


def check_access(state: State, chat_id: int, bot_id: int, access: Access) -> JSONDict:
    """The chat, or the error the Bot API server's check_chat_access answers for it: 400 for
    an unknown chat or an upgraded group, 403 when the bot is not (or no longer) in it."""
    chat = state.chats.get(chat_id)
    if chat is None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
    chat_type = chat["type"]
    if chat_type == "private":
        return chat
    need_write = access == "write"
    need_edit = access in ("edit", "write")
    status = status_in(state, chat_id, bot_id).status
    if chat_type == "group":
        if access == "read_members":  # a deactivated group's member list is gone too
            need_write = need_edit = True
        upgraded_to = state.migrated.get(chat_id)
        if upgraded_to is not None and need_write:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": upgraded_to},
            )
        if status == "kicked" and need_edit:
            raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot was kicked from the group chat")
        if status == "left" and need_edit:
            raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot is not a member of the group chat")
        return chat
    if status == "kicked":
        raise ApiError(HTTPStatus.FORBIDDEN, f"Forbidden: bot was kicked from the {chat_type} chat")
    # A public chat (one with a username) can be read from outside; a private one cannot.
    if status not in PRESENT and (need_edit or not chat.get("username")):
        raise ApiError(
            HTTPStatus.FORBIDDEN, f"Forbidden: bot is not a member of the {chat_type} chat"
        )
    return chat


def check_can_post(state: State, chat: JSONDict, bot_id: int) -> None:
    """TDLib's can_send_message_to_dialog: in a channel only an administrator with
    can_post_messages posts."""
    if chat["type"] != "channel":
        return
    member = status_in(state, chat["id"], bot_id)
    if member.status == "creator" or member.rights.get("can_post_messages"):
        return
    raise ApiError(
        HTTPStatus.BAD_REQUEST, "Bad Request: need administrator rights in the channel chat"
    )


def reaches_bot(
    member: Member, bot_user: JSONDict, text: str, *, reply_to_bot: bool = False
) -> bool:
    """Whether a user's text message in a group reaches the bot (the bot is in the group).

    Privacy mode (`can_read_all_group_messages` false, BotFather's default): only commands
    (not those addressed to another bot, "/cmd@other_bot") and replies to the bot's messages,
    unless the bot is an administrator. Ours, simpler than Telegram: mentions of the bot are
    not modelled, and a bare "/cmd" always arrives (Telegram: if this bot spoke last).
    """
    if (
        reply_to_bot
        or bot_user.get("can_read_all_group_messages")
        or member.status in ("creator", "administrator")
    ):
        return True
    if not text.startswith("/"):
        return False
    command = text.split(maxsplit=1)[0]
    _, at, addressee = command.partition("@")
    return not at or addressee.lower() == str(bot_user.get("username", "")).lower()


def command_entities(text: str) -> list[JSONDict]:
    """The bot_command entity Telegram's apps mark at the start of a text, if any."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def in_charge(state: State, chat_id: int) -> int | None:
    """Who acts for a group when a test does not say: its creator, else its first
    administrator, else None (an anonymous administrator)."""
    members = state.members.get(chat_id, {})
    for wanted in ("creator", "administrator"):
        for user_id, member in members.items():
            if member.status == wanted and user_id in state.users:
                return user_id
    return None


def topic_root(
    chat: JSONDict, thread_id: int, name: str, sender: JSONDict | None, date: int
) -> JSONDict:
    """A forum topic's first message, the forum_topic_created one: its id is the topic's
    message_thread_id. `sender` None: an anonymous administrator made it."""
    message: JSONDict = {"message_id": thread_id}
    if sender is None:
        message.update({"from": ANONYMOUS_ADMIN, "sender_chat": chat})
    else:
        message["from"] = sender
    message.update(
        {
            "chat": chat,
            "date": date,
            "message_thread_id": thread_id,
            "forum_topic_created": {"name": name, "icon_color": TOPIC_ICON_COLOR},
            "is_topic_message": True,
        }
    )
    return message
