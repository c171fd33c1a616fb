"""Linking and unlinking chats: /start <token> in a private chat, a group or a forum topic,
`/link <token>` posted in a channel, /stop, and the bot being removed from a group or channel.
Only a group's administrators may link or unlink it; in a channel, whoever can post is one."""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from telegram import Chat, ChatMemberUpdated, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.chat import groups
from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of
from bot.store.chats import LinkedChat
from bot.store.languages import LanguageStore
from bot.store.link_events import Reason
from bot.store.link_tokens import ISSUED_SHAPE
from bot.store.registry import ChatRegistry, Linking, kind_of

log = structlog.get_logger(__name__)

HOW_TO_LINK = N_(
    "Hi! To get notifications here, open the Telegram link shown on the website "
    "while logged in to your account. It opens this chat and links it."
)
LINKED = N_(
    "Done: this chat is now linked, and notifications will arrive here. Send /stop to unlink."
)
LINKED_GROUP = N_(
    "Done: this group is now linked, and notifications will arrive here. "
    "An administrator can send /stop to unlink it."
)
LINKED_TOPIC = N_(
    "Done: this topic is now linked, and notifications will arrive here. "
    "An administrator can send /stop to unlink the group."
)
MOVED_TOPIC = N_("Done: this group's notifications arrive in this topic from now on.")
LINKED_CHANNEL = N_("Done: this channel is now linked, and notifications will appear here.")
RELINKED = N_(
    "Done: this chat is now linked to the account that opened the link "
    "(it was linked to another account before). Send /stop to unlink."
)
ALREADY = N_("This chat is linked to that account already: nothing changed.")
BAD_LINK = N_(
    "This link is invalid, expired or already used. "
    "Get a new one from the website and open it again."
)
FOR_A_GROUP = N_(
    "This link adds me to a group: open it and pick the group, "
    "or send the same /start in the group."
)
FOR_PRIVATE = N_(
    "This link is for your private chat with me: open it yourself, not in a group or channel."
)
FOR_A_CHANNEL = N_("This code is for a channel: post /link followed by the code in the channel.")
LIMIT = N_(
    "This account has {limit} chats linked already, the most it can have. "
    "To free one, send /stop in one of them (or remove me from a group or channel), "
    "then open the link again."
)
ADMINS_ONLY_LINK = N_("Only an administrator of this group can link it.")
ADMINS_ONLY_STOP = N_("Only an administrator of this group can unlink it.")
UNLINKED = N_(
    "This chat is unlinked: you will get no more notifications here. Link again any time."
)
UNLINKED_GROUP = N_("This group is unlinked: no more notifications will arrive here.")
NOT_LINKED = N_("This chat is not linked to any account.")
UNLINKED_CHANNEL = N_("This channel is unlinked: no more notifications will appear here.")
USED_UP = N_("Everyone here has seen this link, so it works no more: get a new one.")


_WRONG_KIND = {"group": FOR_A_GROUP, "private": FOR_PRIVATE, "channel": FOR_A_CHANNEL}
_ADMINS = (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
_GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)


class Linker:
    """The handlers that link and unlink chats. Replies never include ids or internals, and are
    in the language `chosen_language` says the chat's user picked, else Telegram's."""

    def __init__(
        self,
        registry: ChatRegistry,
        *,
        chosen_language: ChosenLanguage | None = None,
        languages: LanguageStore | None = None,
    ) -> None:
        self._registry = registry
        self._chosen_language = chosen_language
        self._languages = languages  # where the linking user's Telegram language is kept

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handler(CommandHandler("start", self.start))
        application.add_handler(CommandHandler("stop", self.stop))
        posts = filters.UpdateType.CHANNEL_POST
        application.add_handler(CommandHandler("link", self.channel_link, filters=posts))
        # In a group /link is an admin command (group 0 answers it); a token pasted after it
        # there has been seen by every member: used up, in a group of its own so it runs too,
        # and first, so that a member over their budget cannot keep it valid.
        in_groups = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
        application.add_handler(
            CommandHandler("link", self.group_link, filters=in_groups), group=groups.SEEN_TOKENS
        )
        application.add_handler(CommandHandler("stop", self.channel_stop, filters=posts))
        application.add_handler(
            ChatMemberHandler(self.membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        migrated = filters.StatusUpdate.MIGRATE & filters.ChatType.GROUP
        application.add_handler(MessageHandler(migrated, self.migrated))

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start <token> links the chat it is sent in: a private chat, or (an administrator
        only) a group, into the forum topic it is sent from."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        if not context.args:
            if chat.type == Chat.PRIVATE:
                await self._reply(update, HOW_TO_LINK)
            return
        token = context.args[0]
        found = await self._registry.token(token)
        if found is None:
            log.info("link_rejected", chat_id=chat.id, reason="invalid, expired or used token")
            await self._reply(update, BAD_LINK)
            return
        wanted = kind_of(chat.type)
        if found.kind != wanted:
            log.info("link_rejected", chat_id=chat.id, reason=f"a {found.kind} token in a {wanted}")
            await self._refuse(update, token, _WRONG_KIND[found.kind])
            return
        if wanted == "group" and not await self._sent_by_admin(message, context):
            log.info("link_rejected", chat_id=chat.id, reason="not a group administrator")
            await self._refuse(update, token, ADMINS_ONLY_LINK)
            return
        thread = message.message_thread_id if message.is_topic_message else None
        await self._link(update, token, LinkedChat(chat.id, wanted, thread))

    async def channel_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/link <token>` posted in a channel links it, where the bot is an administrator that
        may delete the post (it holds the token): the post goes, a confirmation comes."""
        post, chat = update.channel_post, update.effective_chat
        if post is None or chat is None or not context.args:
            return
        token = context.args[0]
        if not ISSUED_SHAPE.fullmatch(token):
            return  # "/link to our shop": a post of the channel's own, left alone
        if not await self._may_post_and_delete(chat, context):
            # Nobody to tell: a bot that is no administrator cannot write here. The post stays
            # readable, so its token must not work any more.
            log.info("link_rejected", chat_id=chat.id, reason="the bot is not a channel admin")
            await self._registry.burn(token)
            return
        await self._delete(post)  # the token must not stay readable
        found = await self._registry.token(token)
        if found is None or found.kind != "channel":
            reason = "invalid, expired or used token" if found is None else "not a channel token"
            log.info("link_rejected", chat_id=chat.id, reason=reason)
            await self._refuse(
                update, token, BAD_LINK if found is None else _WRONG_KIND[found.kind]
            )
            return
        await self._link(update, token, LinkedChat(chat.id, "channel"))

    async def group_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/link <token>` posted in a group (a channel's token, say): every member saw it, so
        it is used up; the admin command that answers /link there says the rest."""
        chat = update.effective_chat
        for word in context.args or ():
            if ISSUED_SHAPE.fullmatch(word) and await self._registry.token(word) is not None:
                await self._registry.burn(word)
                log.info("link_token_burned", chat_id=chat.id if chat else None)

    async def _link(self, update: Update, token: str, chat: LinkedChat) -> None:
        title = update.effective_chat.title if update.effective_chat else None
        link = await self._registry.redeem(token, chat, title=title)
        status = link.status
        context = {"user_id": link.user_id, "chat_id": chat.chat_id, "kind": chat.kind}
        if status is Linking.LIMIT:
            log.info("link_rejected", reason="chat limit reached", **context)
            await self._refuse(update, token, LIMIT, limit=self._registry.max_chats)
            return
        if status in (Linking.INVALID, Linking.WRONG_KIND):  # used or changed since it was read
            log.info("link_rejected", reason=f"token {status.value}", **context)
            await self._reply(update, BAD_LINK)
            return
        if status is Linking.ALREADY:
            await self._refuse(update, token, ALREADY)
            return
        user = update.effective_user
        if self._languages is not None and user is not None and link.user_id is not None:
            try:
                await self._languages.remember(link.user_id, chat.chat_id, user.language_code)
            except RedisError as exc:  # refreshed when they next write
                log.warning("telegram_language_not_stored", chat_id=chat.chat_id, error=str(exc))
        log.info(
            "chat_linked",
            replaced_user_id=link.previous_user_id,
            thread_id=chat.thread_id,
            reason="start",
            **context,
        )
        await self._reply(update, _linked_reply(chat, status))

    async def stop(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stop unlinks the chat it is sent in (a group's: an administrator only); the user's
        other chats stay linked."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        group = chat.type != Chat.PRIVATE
        # Telegram is asked about the sender only where there is something to unlink.
        if group and await self._registry.user_for(chat.id) is None:
            await self._reply(update, NOT_LINKED)
            return
        if group and not await self._sent_by_admin(message, context):
            log.info("unlink_rejected", chat_id=chat.id, reason="not a group administrator")
            await self._reply(update, ADMINS_ONLY_STOP)
            return
        user_id = await self._registry.unlink_chat(chat.id, reason="stop")
        if user_id is None:
            await self._reply(update, NOT_LINKED)
            return
        log.info("chat_unlinked", user_id=user_id, chat_id=chat.id, reason="stop")
        await self._reply(update, UNLINKED_GROUP if group else UNLINKED)

    async def channel_stop(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """/stop posted in a linked channel unlinks it (only administrators post there)."""
        chat = update.effective_chat
        if chat is None:
            return
        user_id = await self._registry.unlink_chat(chat.id, reason="stop")
        if user_id is not None:
            log.info("chat_unlinked", user_id=user_id, chat_id=chat.id, reason="stop")
            await self._reply(update, UNLINKED_CHANNEL)

    async def membership(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The bot was removed from a group or channel (or blocked in a private chat): the chat's
        link goes, with its link event."""
        change: ChatMemberUpdated | None = update.my_chat_member
        if change is None or change.new_chat_member.status not in _GONE:
            return
        chat = change.chat
        reason: Reason = "blocked" if chat.type == Chat.PRIVATE else "removed"
        user_id = await self._registry.unlink_chat(chat.id, reason=reason)
        if user_id is not None:
            log.info("chat_unlinked", user_id=user_id, chat_id=chat.id, reason=reason)

    async def migrated(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup (the service message in the old group): its link
        follows at once, rather than at the next send's 400."""
        message = update.effective_message
        if message is None or message.migrate_to_chat_id is None:
            return
        user_id = await self._registry.move_chat(message.chat.id, message.migrate_to_chat_id)
        if user_id is not None:
            log.info(
                "chat_migrated",
                user_id=user_id,
                old_chat_id=message.chat.id,
                new_chat_id=message.migrate_to_chat_id,
            )

    async def _sent_by_admin(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Whether `message` comes from an administrator of its group, as getChatMember says
        now. An anonymous administrator writes as the group itself."""
        if message.sender_chat is not None:
            return message.sender_chat.id == message.chat.id
        if message.from_user is None:
            return False
        try:
            member = await context.bot.get_chat_member(message.chat.id, message.from_user.id)
        except (BadRequest, Forbidden) as exc:
            log.warning("chat_member_unknown", chat_id=message.chat.id, error=exc.message)
            return False
        return member.status in _ADMINS

    @staticmethod
    async def _may_post_and_delete(chat: Chat, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Whether the bot is an administrator of the channel that may post and delete posts.
        Telegram answers a bot that is none "member list is inaccessible"."""
        try:
            member = await context.bot.get_chat_member(chat.id, context.bot.id)
        except (BadRequest, Forbidden):
            return False
        if member.status == ChatMemberStatus.OWNER:
            return True
        return member.status == ChatMemberStatus.ADMINISTRATOR and bool(
            getattr(member, "can_post_messages", False)
            and getattr(member, "can_delete_messages", False)
        )

    @staticmethod
    async def _delete(post: Message) -> None:
        try:
            await post.delete()
        except TelegramError as exc:
            log.warning("link_post_not_deleted", chat_id=post.chat.id, error=exc.message)

    async def _refuse(
        self, update: Update, token: str, message: str, *, limit: int | None = None
    ) -> None:
        """Say why nothing was linked. A token that everyone in a group or channel has seen
        is used up all the same: any member could otherwise link a chat of theirs with it."""
        chat = update.effective_chat
        if chat is not None and chat.type != Chat.PRIVATE:
            await self._registry.burn(token)
            await self._reply(update, message, after=USED_UP, limit=limit)
        else:
            await self._reply(update, message, limit=limit)

    async def _reply(
        self, update: Update, message: str, *, after: str | None = None, limit: int | None = None
    ) -> None:
        """Answer `update` with `message` (a marked English msgid) in the user's language, in
        the topic it came from."""
        chat = update.effective_chat
        if update.effective_message is None or chat is None:
            return
        language = await language_of(update, self._chosen_language)
        text = gettext(language, message)
        text = text if limit is None else text.format(limit=limit)
        if after is not None:
            text = f"{text}\n\n{gettext(language, after)}"
        if update.channel_post is not None:
            await chat.send_message(text)  # the post it answers is deleted: no reply to it
        else:
            await update.effective_message.reply_text(text)


def _linked_reply(chat: LinkedChat, status: Linking) -> str:
    if status is Linking.MOVED:
        return MOVED_TOPIC
    if chat.kind == "channel":
        return LINKED_CHANNEL
    if chat.kind == "group":
        return LINKED_TOPIC if chat.thread_id is not None else LINKED_GROUP
    return RELINKED if status is Linking.RELINKED else LINKED
