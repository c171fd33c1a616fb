"""Groups, supergroups, channels and forum topics in the emulator, through python-telegram-bot:
getChatMember's ChatMember objects and errors, the bot added (my_chat_member, the startgroup
/start) and removed (403 afterwards), channel posts, topic messages, an upgraded group, and a
blocked bot."""

from __future__ import annotations

import datetime as dtm
from typing import TypedDict

import pytest
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot.testing import FakeTelegram
from tests.testing.api import Api

GROUP = -123  # a basic group: -1 .. -999999999999
SUPERGROUP = -1001234567890  # supergroups and channels: -100 and the channel's number
CHANNEL = -1009876543210
OWNER, ADMIN, MEMBER, BANNED, STRANGER = 1, 2, 3, 4, 5


class People(TypedDict):
    creator: int
    admins: tuple[int, ...]
    members: tuple[int, ...]


PEOPLE: People = {"creator": OWNER, "admins": (ADMIN,), "members": (MEMBER,)}


def bot_id(telegram: FakeTelegram) -> int:
    return int(telegram.bot_user["id"])


async def updates(tg_bot: Bot) -> tuple[Update, ...]:
    """What the bot's next getUpdates brings, parsed by python-telegram-bot; confirmed."""
    found = await tg_bot.get_updates(timeout=0)
    if found:
        await tg_bot.get_updates(offset=found[-1].update_id + 1, timeout=0)
    return found


# -- chat ids --------------------------------------------------------------------------------


def test_group_ids_are_negative_and_supergroup_ids_start_with_minus_100(
    telegram: FakeTelegram,
) -> None:
    assert telegram.add_group(GROUP, title="Friends")["type"] == "group"
    assert telegram.add_group(SUPERGROUP, chat_type="supergroup")["type"] == "supergroup"
    assert telegram.add_channel(CHANNEL)["type"] == "channel"
    for wrong, kind in ((123, "group"), (-1_000_000_000_000, "group"), (-123, "supergroup")):
        with pytest.raises(ValueError, match="id"):
            telegram.add_group(wrong, chat_type=kind)
    with pytest.raises(ValueError, match="id"):
        telegram.add_channel(-77)
    with pytest.raises(ValueError, match="exists"):
        telegram.add_group(GROUP)


# -- getChatMember -----------------------------------------------------------------------------


async def test_get_chat_member_answers_each_status_as_python_telegram_bot_reads_it(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(
        SUPERGROUP, chat_type="supergroup", kicked=(BANNED,), bot_status="member", **PEOPLE
    )
    telegram.user_says(STRANGER, "hi")  # the bot has seen this user, in a private chat
    owner = await tg_bot.get_chat_member(SUPERGROUP, OWNER)
    assert isinstance(owner, ChatMemberOwner)
    assert (owner.user.id, owner.is_anonymous) == (OWNER, False)
    admin = await tg_bot.get_chat_member(SUPERGROUP, ADMIN)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_delete_messages is True
    assert admin.can_manage_topics is True  # a supergroup's
    assert admin.can_post_messages is None  # a channel's only
    assert (admin.can_promote_members, admin.is_anonymous, admin.can_be_edited) == (
        False,
        False,
        False,
    )
    assert isinstance(await tg_bot.get_chat_member(SUPERGROUP, MEMBER), ChatMemberMember)
    banned = await tg_bot.get_chat_member(SUPERGROUP, BANNED)
    assert isinstance(banned, ChatMemberBanned)
    assert banned.until_date == dtm.datetime(1970, 1, 1, tzinfo=dtm.UTC)  # for ever
    assert isinstance(await tg_bot.get_chat_member(SUPERGROUP, STRANGER), ChatMemberLeft)
    itself = await tg_bot.get_chat_member(SUPERGROUP, bot_id(telegram))
    assert isinstance(itself, ChatMemberMember)
    assert itself.user.username == "notify_demo_bot"


async def test_an_administrator_bot_has_the_rights_it_was_given(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_channel(CHANNEL, bot_rights={"can_delete_messages": False})
    itself = await tg_bot.get_chat_member(CHANNEL, bot_id(telegram))
    assert isinstance(itself, ChatMemberAdministrator)
    assert (itself.can_post_messages, itself.can_edit_messages) == (True, True)
    assert itself.can_delete_messages is False
    assert itself.can_pin_messages is None  # not a channel's
    telegram.add_group(GROUP, bot_status="administrator")
    in_group = await tg_bot.get_chat_member(GROUP, bot_id(telegram))
    assert isinstance(in_group, ChatMemberAdministrator)
    assert (in_group.can_delete_messages, in_group.can_promote_members) == (True, False)
    with pytest.raises(ValueError, match="same rights"):
        telegram.add_group(-124, bot_status="administrator", bot_rights={"can_pin_messages": False})


async def test_get_chat_member_errors_are_telegrams(
    tg_bot: Bot, telegram: FakeTelegram, api: Api
) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await tg_bot.get_chat_member(-42, OWNER)
    telegram.add_group(GROUP, bot_status="member", **PEOPLE)
    with pytest.raises(BadRequest, match="Member not found"):  # never seen by the bot
        await tg_bot.get_chat_member(GROUP, 999)
    assert api.refusal("getChatMember", chat_id=GROUP, user_id="me") == (
        "Bad Request: invalid user_id specified"
    )
    assert api.refusal("getChatMember", user_id=OWNER) == "Bad Request: chat_id is empty"
    telegram.add_channel(CHANNEL, bot_status="member", **PEOPLE)
    with pytest.raises(BadRequest, match="Member list is inaccessible"):  # admins only
        await tg_bot.get_chat_member(CHANNEL, bot_id(telegram))


async def test_in_a_private_chat_the_members_are_the_user_and_the_bot(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.user_says(42, "/start", first_name="Ann")
    user = await tg_bot.get_chat_member(42, 42)
    assert isinstance(user, ChatMemberMember)
    assert user.user.first_name == "Ann"
    assert isinstance(await tg_bot.get_chat_member(42, bot_id(telegram)), ChatMemberMember)
    with pytest.raises(BadRequest, match="Member not found"):
        await tg_bot.get_chat_member(42, 43)


async def test_a_group_the_bot_is_not_in_answers_403(tg_bot: Bot, telegram: FakeTelegram) -> None:
    """The Bot API server's check_chat_access: the bot may still read its own status in a
    basic group; anything else needs it to be there."""
    telegram.add_group(GROUP, **PEOPLE)
    telegram.add_group(SUPERGROUP, chat_type="supergroup", **PEOPLE)
    telegram.add_channel(CHANNEL, bot_status=None)
    with pytest.raises(Forbidden, match=r"^Forbidden: bot is not a member of the group chat$"):
        await tg_bot.get_chat_member(GROUP, OWNER)
    assert isinstance(await tg_bot.get_chat_member(GROUP, bot_id(telegram)), ChatMemberLeft)
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await tg_bot.get_chat_member(SUPERGROUP, bot_id(telegram))
    for chat_id, kind in ((GROUP, "group"), (SUPERGROUP, "supergroup"), (CHANNEL, "channel")):
        with pytest.raises(Forbidden, match=f"bot is not a member of the {kind} chat"):
            await tg_bot.send_message(chat_id, "hello?")
    assert telegram.sent == []


async def test_a_public_supergroup_can_be_read_from_outside(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(SUPERGROUP, chat_type="supergroup", username="open_group", **PEOPLE)
    assert isinstance(await tg_bot.get_chat_member(SUPERGROUP, OWNER), ChatMemberOwner)
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await tg_bot.send_message(SUPERGROUP, "hello?")


# -- the bot added and removed ----------------------------------------------------------------


async def test_a_startgroup_link_adds_the_bot_and_sends_start_with_the_payload(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(GROUP, title="Friends", **PEOPLE)
    telegram.add_bot(GROUP, by=MEMBER, start="tok-EN_42")
    added, joined, start = await updates(tg_bot)
    change = added.my_chat_member
    assert change is not None
    assert (change.chat.id, change.chat.type, change.chat.title) == (GROUP, "group", "Friends")
    assert change.from_user.id == MEMBER
    assert isinstance(change.old_chat_member, ChatMemberLeft)
    assert isinstance(change.new_chat_member, ChatMemberMember)
    assert change.new_chat_member.user.id == bot_id(telegram)
    assert joined.message is not None
    assert [user.id for user in joined.message.new_chat_members] == [bot_id(telegram)]
    message = start.message
    assert message is not None
    assert message.text == "/start@notify_demo_bot tok-EN_42"
    assert (message.from_user.id, message.chat.id) == (MEMBER, GROUP)  # type: ignore[union-attr]
    assert message.parse_entities([MessageEntity.BOT_COMMAND]) == {
        message.entities[0]: "/start@notify_demo_bot"
    }
    reply = await message.reply_text("Linked")
    assert reply.chat.id == GROUP
    assert isinstance(await tg_bot.get_chat_member(GROUP, bot_id(telegram)), ChatMemberMember)


async def test_the_bot_added_as_an_administrator(tg_bot: Bot, telegram: FakeTelegram) -> None:
    telegram.add_group(SUPERGROUP, chat_type="supergroup", **PEOPLE)
    with pytest.raises(ValueError, match="no administrator"):
        telegram.add_bot(SUPERGROUP, by=MEMBER, as_admin=True)
    with pytest.raises(ValueError, match="not in chat"):
        telegram.add_bot(SUPERGROUP, by=STRANGER)
    telegram.add_bot(SUPERGROUP, by=ADMIN, as_admin=True, rights={"can_pin_messages": False})
    added, _joined = await updates(tg_bot)
    assert added.my_chat_member is not None
    new = added.my_chat_member.new_chat_member
    assert isinstance(new, ChatMemberAdministrator)
    assert (new.can_delete_messages, new.can_pin_messages) == (True, False)
    with pytest.raises(ValueError, match=r"in chat .* already"):
        telegram.add_bot(SUPERGROUP, by=ADMIN)


async def test_allowed_updates_leave_my_chat_member_out_when_asked(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    """my_chat_member is in Telegram's default set; a bot that lists kinds gets only those."""
    telegram.add_group(GROUP, **PEOPLE)
    await tg_bot.get_updates(timeout=0, allowed_updates=["message"])
    telegram.add_bot(GROUP, by=OWNER, start="abc")
    assert [bool(u.message) for u in await updates(tg_bot)] == [True, True]


@pytest.mark.parametrize(
    ("chat_type", "status", "error"),
    [
        ("group", ChatMemberLeft, "Forbidden: bot was kicked from the group chat"),
        ("supergroup", ChatMemberBanned, "Forbidden: bot was kicked from the supergroup chat"),
    ],
)
async def test_the_bot_removed_gets_my_chat_member_and_403_afterwards(
    tg_bot: Bot,
    telegram: FakeTelegram,
    api: Api,
    chat_type: str,
    status: type,
    error: str,
) -> None:
    chat_id = GROUP if chat_type == "group" else SUPERGROUP
    telegram.add_group(chat_id, chat_type=chat_type, bot_status="member", **PEOPLE)
    sent = await tg_bot.send_message(chat_id, "hello all")
    telegram.remove_bot(chat_id, by=OWNER)
    [removed] = await updates(tg_bot)
    assert removed.my_chat_member is not None
    assert removed.my_chat_member.from_user.id == OWNER
    assert isinstance(removed.my_chat_member.old_chat_member, ChatMemberMember)
    assert isinstance(removed.my_chat_member.new_chat_member, status)
    with pytest.raises(Forbidden, match=f"^{error}$"):
        await tg_bot.send_message(chat_id, "still here?")
    with pytest.raises(Forbidden, match=error):
        await tg_bot.edit_message_text("edited", chat_id, sent.message_id)
    with pytest.raises(Forbidden, match=error):
        await tg_bot.delete_message(chat_id, sent.message_id)
    with pytest.raises(ValueError, match="not in chat"):
        telegram.remove_bot(chat_id, by=OWNER)
    telegram.user_says(OWNER, "/help", chat=chat_id)  # the bot hears nothing there now
    assert await updates(tg_bot) == ()


async def test_the_bot_removed_from_a_channel_is_kicked(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_channel(CHANNEL, creator=OWNER)
    telegram.remove_bot(CHANNEL, by=OWNER)
    [removed] = await updates(tg_bot)
    assert removed.my_chat_member is not None
    assert removed.my_chat_member.chat.type == "channel"
    assert isinstance(removed.my_chat_member.old_chat_member, ChatMemberAdministrator)
    assert isinstance(removed.my_chat_member.new_chat_member, ChatMemberBanned)
    with pytest.raises(Forbidden, match="bot was kicked from the channel chat"):
        await tg_bot.send_message(CHANNEL, "news")
    with pytest.raises(ValueError, match="only as an administrator"):
        telegram.add_bot(CHANNEL, by=OWNER)


# -- people writing in groups -----------------------------------------------------------------


async def test_in_privacy_mode_a_member_bot_hears_commands_only(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(GROUP, bot_status="member", **PEOPLE)
    telegram.user_says(MEMBER, "good morning", chat=GROUP)
    telegram.user_says(MEMBER, "/help@other_bot", chat=GROUP)
    telegram.user_says(MEMBER, "/help", chat=GROUP)
    telegram.user_says(MEMBER, "/help@Notify_Demo_Bot", chat=GROUP)
    assert [u.message.text for u in await updates(tg_bot) if u.message] == [
        "/help",
        "/help@Notify_Demo_Bot",
    ]
    with pytest.raises(ValueError, match="not in chat"):
        telegram.user_says(STRANGER, "/help", chat=GROUP)
    telegram.add_group(SUPERGROUP, chat_type="supergroup", bot_status="administrator", **PEOPLE)
    telegram.user_says(MEMBER, "good morning", chat=SUPERGROUP)
    [heard] = await updates(tg_bot)
    assert heard.message is not None
    assert heard.message.text == "good morning"


async def test_an_administrator_bot_deletes_members_messages(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    """TDLib: in a basic group any administrator may; in a supergroup one with
    can_delete_messages; a member bot only its own messages."""
    telegram.add_group(GROUP, bot_status="administrator", **PEOPLE)
    in_group = telegram.user_says(MEMBER, "spam", chat=GROUP)["message"]["message_id"]
    assert await tg_bot.delete_message(GROUP, in_group) is True
    telegram.add_group(
        SUPERGROUP,
        chat_type="supergroup",
        bot_status="administrator",
        bot_rights={"can_delete_messages": False},
        **PEOPLE,
    )
    in_supergroup = telegram.user_says(MEMBER, "spam", chat=SUPERGROUP)["message"]["message_id"]
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await tg_bot.delete_message(SUPERGROUP, in_supergroup)
    telegram.add_group(-124, bot_status="member", **PEOPLE)
    in_other = telegram.user_says(MEMBER, "/spam", chat=-124)["message"]["message_id"]
    with pytest.raises(BadRequest, match="Message can't be deleted for everyone"):
        await tg_bot.delete_message(-124, in_other)
    assert telegram.deleted == [(GROUP, in_group)]


# -- channels ---------------------------------------------------------------------------------


async def test_a_channel_post_has_the_channel_as_sender_and_no_from(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_channel(CHANNEL, title="News", username="news_channel", creator=OWNER)
    telegram.channel_post(CHANNEL, "/link abc", author="Ann")
    [update] = await updates(tg_bot)
    post = update.channel_post
    assert post is not None
    assert update.message is None
    assert post.from_user is None
    assert post.sender_chat is not None
    assert (post.sender_chat.id, post.chat.id, post.chat.type) == (CHANNEL, CHANNEL, "channel")
    assert post.chat.username == "news_channel"
    assert post.author_signature == "Ann"
    assert post.parse_entities([MessageEntity.BOT_COMMAND]) == {post.entities[0]: "/link"}
    telegram.add_channel(-1009876543211, bot_status=None)
    telegram.channel_post(-1009876543211, "/link abc")
    assert await updates(tg_bot) == ()
    with pytest.raises(ValueError, match="channel_post"):
        telegram.user_says(OWNER, "hello", chat=CHANNEL)


async def test_the_bot_posts_in_a_channel_only_as_an_administrator_who_may_post(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_channel(CHANNEL)
    sent = await tg_bot.send_message(CHANNEL, "news")
    assert sent.from_user is None
    assert sent.sender_chat is not None
    assert sent.sender_chat.id == CHANNEL
    for chat_id, status, rights in (
        (-1009876543211, "member", None),
        (-1009876543212, "administrator", {"can_post_messages": False}),
    ):
        telegram.add_channel(chat_id, bot_status=status, bot_rights=rights)
        with pytest.raises(BadRequest, match="Need administrator rights in the channel chat"):
            await tg_bot.send_message(chat_id, "news")


async def test_channel_posts_are_deleted_by_an_administrator_with_the_right(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_channel(CHANNEL)
    post = telegram.channel_post(CHANNEL, "old news")["channel_post"]["message_id"]
    assert await tg_bot.delete_message(CHANNEL, post) is True
    assert telegram.deleted == [(CHANNEL, post)]
    telegram.add_channel(-1009876543211, bot_rights={"can_delete_messages": False})
    other = telegram.channel_post(-1009876543211, "news")["channel_post"]["message_id"]
    with pytest.raises(BadRequest, match="Message can't be deleted"):
        await tg_bot.delete_message(-1009876543211, other)
    own = await tg_bot.send_message(-1009876543211, "ours")
    assert await tg_bot.delete_message(-1009876543211, own.message_id) is True


# -- forum topics ------------------------------------------------------------------------------


async def test_a_topic_message_is_marked_and_answered_in_its_topic(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(
        SUPERGROUP, chat_type="supergroup", topics=(7,), bot_status="member", **PEOPLE
    )
    telegram.user_says(MEMBER, "/status", chat=SUPERGROUP, thread_id=7)
    [update] = await updates(tg_bot)
    message = update.message
    assert message is not None
    assert (message.is_topic_message, message.message_thread_id) == (True, 7)
    assert message.chat.is_forum is True
    root = message.reply_to_message
    assert root is not None
    assert root.message_id == 7
    assert root.forum_topic_created is not None
    assert root.forum_topic_created.name == "Topic 7"
    reply = await message.reply_text("All good")  # python-telegram-bot keeps the thread
    assert (reply.message_thread_id, reply.is_topic_message) == (7, True)
    assert int(telegram.sent[-1].params["message_thread_id"]) == 7
    with pytest.raises(ValueError, match="no topic 8"):
        telegram.user_says(MEMBER, "/status", chat=SUPERGROUP, thread_id=8)


async def test_topics_opened_and_deleted(tg_bot: Bot, telegram: FakeTelegram) -> None:
    telegram.add_group(SUPERGROUP, chat_type="supergroup", bot_status="member", **PEOPLE)
    thread_id = telegram.add_topic(SUPERGROUP, name="Alerts")
    [opened] = await updates(tg_bot)
    assert opened.message is not None
    assert opened.message.message_id == thread_id
    assert opened.message.forum_topic_created is not None
    assert opened.message.forum_topic_created.name == "Alerts"
    assert opened.message.from_user.id == OWNER  # type: ignore[union-attr]
    sent = await tg_bot.send_message(SUPERGROUP, "on", message_thread_id=thread_id)
    assert sent.message_thread_id == thread_id
    telegram.delete_topic(SUPERGROUP, thread_id)
    assert telegram.sent == []  # the topic's messages went with it
    with pytest.raises(BadRequest, match="Message thread not found"):
        await tg_bot.send_message(SUPERGROUP, "on", message_thread_id=thread_id)


async def test_delete_forum_topic_wants_the_right_to_delete(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_group(SUPERGROUP, chat_type="supergroup", topics=(7, 9), bot_status="member")
    with pytest.raises(BadRequest, match="Not enough rights to delete the topic"):
        await tg_bot.delete_forum_topic(SUPERGROUP, 7)
    telegram.add_group(
        -1001234567891, chat_type="supergroup", topics=(7,), bot_status="administrator"
    )
    assert await tg_bot.delete_forum_topic(-1001234567891, 7) is True
    with pytest.raises(BadRequest, match="Message thread not found"):
        await tg_bot.send_message(-1001234567891, "on", message_thread_id=7)
    telegram.add_group(GROUP, bot_status="administrator")
    with pytest.raises(BadRequest, match="The chat is not a forum"):
        await tg_bot.delete_forum_topic(GROUP, 7)


# -- a group upgraded to a supergroup ----------------------------------------------------------


async def test_an_upgraded_group_answers_with_the_new_chat_id(
    tg_bot: Bot, telegram: FakeTelegram, api: Api
) -> None:
    telegram.add_group(GROUP, bot_status="member", **PEOPLE)
    new = telegram.migrate_group(GROUP, SUPERGROUP)
    assert (new["id"], new["type"]) == (SUPERGROUP, "supergroup")
    old_side, new_side = await updates(tg_bot)
    assert old_side.message is not None
    assert old_side.message.migrate_to_chat_id == SUPERGROUP
    assert new_side.message is not None
    assert (new_side.message.chat.id, new_side.message.migrate_from_chat_id) == (
        SUPERGROUP,
        GROUP,
    )
    with pytest.raises(ChatMigrated) as migrated:
        await tg_bot.send_message(GROUP, "hello")
    assert migrated.value.new_chat_id == SUPERGROUP
    status, body = api.post("sendMessage", chat_id=GROUP, text="hello")
    assert (status, body["description"], body["parameters"]) == (
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": SUPERGROUP},
    )
    assert isinstance(await tg_bot.get_chat_member(SUPERGROUP, OWNER), ChatMemberOwner)
    admin = await tg_bot.get_chat_member(SUPERGROUP, ADMIN)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.can_manage_topics is True
    itself = await tg_bot.get_chat_member(SUPERGROUP, bot_id(telegram))
    assert isinstance(itself, ChatMemberMember)
    assert (await tg_bot.send_message(SUPERGROUP, "hello")).chat.id == SUPERGROUP


# -- a private chat: the user blocks the bot ---------------------------------------------------


async def test_blocking_the_bot_queues_my_chat_member_kicked(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.user_says(42, "/start", first_name="Ann")
    await updates(tg_bot)
    telegram.block(42)
    [blocked] = await updates(tg_bot)
    change = blocked.my_chat_member
    assert change is not None
    assert (change.chat.id, change.chat.type, change.from_user.id) == (42, "private", 42)
    assert isinstance(change.old_chat_member, ChatMemberMember)
    assert isinstance(change.new_chat_member, ChatMemberBanned)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await tg_bot.send_message(42, "hi")
    telegram.user_says(42, "/start")  # back: the reverse change first, then the message
    back, start = await updates(tg_bot)
    assert back.my_chat_member is not None
    assert isinstance(back.my_chat_member.new_chat_member, ChatMemberMember)
    assert isinstance(start.message, Message)
    telegram.block(42, notify=False)
    assert await updates(tg_bot) == ()


def test_raw_chat_member_objects_are_shaped_as_telegram_writes_them(
    api: Api, telegram: FakeTelegram
) -> None:
    """Pinned to Client.cpp's JsonChatMember and json_store_administrator_rights."""
    telegram.add_channel(CHANNEL, creator=OWNER, admins=(ADMIN,))
    user = {"id": ADMIN, "is_bot": False, "first_name": f"User {ADMIN}"}
    assert api.result("getChatMember", chat_id=CHANNEL, user_id=ADMIN) == {
        "user": user,
        "status": "administrator",
        "can_be_edited": False,
        "can_manage_chat": True,
        "can_change_info": True,
        "can_post_messages": True,
        "can_edit_messages": True,
        "can_delete_messages": True,
        "can_invite_users": True,
        "can_restrict_members": True,
        "can_promote_members": False,
        "can_manage_video_chats": True,
        "can_post_stories": True,
        "can_edit_stories": True,
        "can_delete_stories": True,
        "can_manage_direct_messages": True,
        "is_anonymous": False,
        "can_manage_voice_chats": True,
    }
    owner = api.result("getChatMember", chat_id=CHANNEL, user_id=OWNER)
    assert (owner["status"], owner["is_anonymous"]) == ("creator", False)
    telegram.add_group(SUPERGROUP, chat_type="supergroup", kicked=(BANNED,), bot_status="member")
    assert api.result("getChatMember", chat_id=SUPERGROUP, user_id=BANNED) == {
        "user": {"id": BANNED, "is_bot": False, "first_name": f"User {BANNED}"},
        "status": "kicked",
        "until_date": 0,
    }
