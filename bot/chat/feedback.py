"""What a chat says back about a notification: a reply to it (typed into its reply field, or a
swipe-reply to any notification with an id) and a reaction to it become events for the web app
on the feedback stream, and acknowledge it when its reminders are pending."""

from __future__ import annotations

from typing import Any

import structlog
from redis.exceptions import RedisError
from telegram import Message, ReactionType, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from bot.chat import groups
from bot.store.counters import Stats
from bot.store.feedback import About, FeedbackStore, event_base
from bot.store.registry import kind_of
from bot.store.reminders import ACKNOWLEDGED, Acknowledgement

log = structlog.get_logger(__name__)

MAX_TEXT = 4096  # characters of a reply kept: a Telegram message's most


class ChatFeedback:
    """Replies and reactions to notifications, recorded once each (Telegram may send an
    update twice), each acknowledging its notification in the same script."""

    def __init__(self, store: FeedbackStore, stats: Stats) -> None:
        self._store = store
        self._stats = stats

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        replies = (
            filters.UpdateType.MESSAGE
            & filters.REPLY
            & ~filters.COMMAND
            & (filters.ChatType.PRIVATE | filters.ChatType.GROUPS)
        )
        application.add_handler(MessageHandler(replies, self.replied), group=groups.FEEDBACK)
        application.add_handler(
            MessageReactionHandler(self.reacted, chat_id=None), group=groups.FEEDBACK
        )

    def tap_acknowledges(self, notification_id: str, user_id: int) -> Acknowledgement:
        """What a tap on one of the notification's action buttons acknowledges (recorded with
        the tap: bot.store.actions)."""
        return self._store.acknowledgement(About(notification_id, user_id), "tap")

    def tapped(self, acknowledged: bool) -> None:
        if acknowledged:
            self._acknowledged("tap")

    async def replied(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.reply_to_message is None:
            return
        chat = message.chat
        about = await self._about(chat.id, message.reply_to_message.message_id)
        if about is None:
            return  # not to a notification with an id, or not from the chat of its user
        kind = kind_of(chat.type)
        event = event_base("reply", about, kind, chat.id, message.reply_to_message.message_id)
        event["reply_message_id"] = message.message_id
        event |= _text_of(message)
        if kind != "private":  # anyone in the group may have answered: who?
            if message.sender_chat is not None:  # an anonymous administrator, or a channel
                event["sender_chat"] = message.sender_chat.id
            elif message.from_user is not None:
                event["from"] = message.from_user.id
        await self._record(event, f"reply:{chat.id}:{message.message_id}", "replies", about)
        raise ApplicationHandlerStop  # taken: no "unknown command" for it

    async def reacted(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        reaction = update.message_reaction
        if reaction is None or reaction.chat.type != "private":
            return  # groups report reactions to administrators only, channels only counts
        about = await self._about(reaction.chat.id, reaction.message_id)
        if about is None:
            return
        old, new = _reactions(reaction.old_reaction), _reactions(reaction.new_reaction)
        added, removed = [r for r in new if r not in old], [r for r in old if r not in new]
        if not added and not removed:
            return
        event = event_base("reaction", about, "private", reaction.chat.id, reaction.message_id)
        event |= {"added": added, "removed": removed}
        # Telegram sends an update again with its id: that tells a repeat from a new reaction.
        once = f"reaction:{update.update_id}:{reaction.chat.id}:{reaction.message_id}"
        await self._record(event, once, "reactions", about if added else None)

    async def _about(self, chat_id: int, message_id: int) -> About | None:
        try:
            return await self._store.about(chat_id, message_id)
        except RedisError as exc:
            log.warning("feedback_not_recorded", chat_id=chat_id, error=str(exc))
            return None

    async def _record(
        self, event: dict[str, Any], once: str, counter: str, acknowledges: About | None
    ) -> None:
        """Add the event (once) and, when it says the notification was seen, acknowledge it
        in the same script: its reminders stop."""
        how = str(event["type"])
        ack = None if acknowledges is None else self._store.acknowledgement(acknowledges, how)
        try:
            recorded = await self._store.record(event, once, counter, ack)
        except RedisError as exc:
            log.warning("feedback_not_recorded", chat_id=event["chat_id"], error=str(exc))
            return
        if not recorded.added:
            return
        self._stats.feedback[counter] += 1
        log.info("feedback_recorded", type=how, chat_id=event["chat_id"])
        if recorded.acknowledged:
            self._acknowledged(how)

    def _acknowledged(self, how: str) -> None:
        self._stats.feedback[ACKNOWLEDGED] += 1
        log.info("notification_acknowledged_in_chat", by=how)


def _text_of(message: Message) -> dict[str, Any]:
    """The reply's words (a caption for media), with their formatting when there is any."""
    text = message.text if message.text is not None else message.caption
    entities = message.entities if message.text is not None else message.caption_entities
    fields: dict[str, Any] = {"text": (text or "")[:MAX_TEXT]}
    if entities:
        fields["entities"] = [entity.to_dict() for entity in entities]
    return fields


def _reactions(reactions: tuple[ReactionType, ...]) -> list[str]:
    """Emoji as they are, custom emoji by their id, a paid reaction as "paid"."""
    names = []
    for reaction in reactions:
        emoji = getattr(reaction, "emoji", None) or getattr(reaction, "custom_emoji_id", None)
        names.append(str(emoji) if emoji else reaction.type)
    return names
