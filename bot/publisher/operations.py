"""The publisher's operations, each one plan (bot.store.plans: what to read, a pure decision, what
to write) that the blocking `Publisher` and the asyncio `AsyncPublisher` both run: one
implementation of each, two thin facades."""

from __future__ import annotations

from typing import Generic, TypeVar

import redis
import redis.asyncio

from bot.notification.schema import REMIND_MIN_SECONDS, ChatKind, Notification
from bot.preferences import Category, Preferences, available_languages
from bot.publisher import payloads
from bot.publisher.events import ActionEvent, FeedbackEvent, LinkEvent, checked_wait, read_events
from bot.publisher.manifest import Template, acknowledgeable, templates_of, understood
from bot.publisher.options import PreferenceChanges, Via, changed
from bot.publisher.payloads import Published
from bot.store.chat_links import USER_CHATS, unlinked_all
from bot.store.chats import decode_chats
from bot.store.client import as_text, priority_streams, stream_entry
from bot.store.deployment import BOT_ID, database_number, mark_from
from bot.store.link_events import DEFAULT_STREAM as DEFAULT_LINK_EVENTS_STREAM
from bot.store.link_events import LinkEvents
from bot.store.link_tokens import BOT_USERNAME, deep_link, issued_token
from bot.store.manifest import TEMPLATES, templates_from
from bot.store.plans import Command, Feed, Plan
from bot.store.preferences import (
    CATEGORIES,
    PREFERENCES,
    categories_from,
    changed_preferences,
    preferences_from,
)

DEFAULT_CHANNEL = "notification"
DEFAULT_STREAM = "notifications"
DEFAULT_STREAM_MAXLEN = 100_000
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_LINK_TTL = 24 * 3600
DEFAULT_ACTIONS_STREAM = "notification:actions"
DEFAULT_FEEDBACK_STREAM = "notification:feedback"

ClientT = TypeVar("ClientT", redis.Redis, redis.asyncio.Redis)


class Operations(Generic[ClientT]):
    """Where a publisher's notifications go and what it reads, and each of its operations as
    a plan; `Publisher` and `AsyncPublisher` run the plans with their client."""

    def __init__(
        self,
        client: ClientT,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        actions_stream: str = DEFAULT_ACTIONS_STREAM,
        *,
        link_events_stream: str = DEFAULT_LINK_EVENTS_STREAM,
        feedback_stream: str = DEFAULT_FEEDBACK_STREAM,
        remind_min_seconds: int = REMIND_MIN_SECONDS,
    ) -> None:
        """Args:
        client: the Redis client it publishes with (`from_url` makes one).
        channel: the pub/sub channel of `publish(..., via="pubsub")` (NOTIFICATION_CHANNEL).
        stream: the durable stream (NOTIFICATION_STREAM); "" publishes on the channel only.
        stream_maxlen: about how many entries the stream keeps (NOTIFICATION_STREAM_MAXLEN).
        actions_stream: where the bot reports taps on action buttons (ACTIONS_STREAM).
        link_events_stream: where chats linked and unlinked are reported (LINK_EVENTS_STREAM).
        feedback_stream: where replies, reactions and reminders nobody acknowledged are
            reported (FEEDBACK_STREAM).
        remind_min_seconds: the shortest `remind` interval the bot takes (REMIND_MIN_SECONDS).
        """
        self.client: ClientT = client
        self.channel = channel
        self.stream = stream
        self.stream_maxlen = stream_maxlen
        self.actions_stream = actions_stream
        self.link_events_stream = link_events_stream
        self.feedback_stream = feedback_stream
        self.remind_min_seconds = remind_min_seconds
        self._mark: str | None = None  # this database's deployment, once a bot claimed it

    def _publish(self, notification: Notification, via: Via) -> Plan[Published]:
        if via not in ("stream", "pubsub"):
            raise ValueError(f"via: 'stream' or 'pubsub', not {via!r}")
        if via == "stream" and self.stream:
            return Published(1, (yield from self._add(notification)))
        if not self.channel:
            raise ValueError("no channel to publish on (and no stream): give one")
        yield from understood(notification)
        if self._mark is None:
            stored = yield Command("get", (BOT_ID,))
            self._mark = mark_from(stored, database_number(self.client))
        payload = payloads.payload(notification, self._mark)
        return Published(int((yield Command("publish", (self.channel, payload)))))

    def _add(self, notification: Notification) -> Plan[str]:
        """XADD it to the stream of its priority, once the running bot would take it; the
        entry id."""
        yield from understood(notification)
        stream = priority_streams(self.stream)[notification.rank]
        entry = stream_entry(stream, payloads.payload(notification), self.stream_maxlen)
        return as_text((yield entry))

    def _ack(self, notification: Notification) -> Plan[str]:
        """An op ack on the stream, once the running bot would know it; the entry id."""
        yield from acknowledgeable()
        return (yield from self._add(notification))

    def _create_link(
        self, user_id: int, ttl: int, bot_username: str | None, group: bool
    ) -> Plan[str]:
        username = bot_username or _username((yield Command("get", (BOT_USERNAME,))))
        kind: ChatKind = "group" if group else "private"
        return deep_link(
            username, (yield from self._create_link_token(user_id, kind, ttl)), group=group
        )

    @staticmethod
    def _create_link_token(user_id: int, kind: ChatKind, ttl: int) -> Plan[str]:
        return issued_token(user_id, kind, ttl)

    @staticmethod
    def _is_linked(user_id: int) -> Plan[bool]:
        return bool((yield Command("hexists", (USER_CHATS, str(user_id)))))

    @staticmethod
    def _chats(user_id: int) -> Plan[tuple[ChatKind, ...]]:
        stored = yield Command("hget", (USER_CHATS, str(user_id)))
        return tuple(chat.kind for chat in decode_chats(stored))

    @staticmethod
    def _categories() -> Plan[tuple[Category, ...]]:
        return categories_from((yield Command("get", (CATEGORIES,))))[0]

    @staticmethod
    def _templates() -> Plan[dict[str, Template]]:
        return templates_of((yield Command("get", (TEMPLATES,))))

    @staticmethod
    def _get_preferences(user_id: int) -> Plan[Preferences]:
        stored = yield Command("hget", (PREFERENCES, str(user_id)))
        return preferences_from(stored) or Preferences()

    def _set_preferences(self, user_id: int, changes: PreferenceChanges) -> Plan[Preferences]:
        declared = yield from self._categories()
        language = changes.get("language")
        if language is not None:
            # The bot's catalogs' languages, and its templates' (a user may read notifications
            # in French while the bot's own replies have no French): one more read.
            templates = templates_from((yield Command("get", (TEMPLATES,)))) or {}
            known = dict.fromkeys(available_languages())
            known |= dict.fromkeys(lang for t in templates.values() for lang in t["languages"])
            Preferences(language=language).check_language(known)
        return (
            yield from changed_preferences(
                user_id, lambda current: changed(current, changes, declared)
            )
        )

    def _unlink(self, user_id: int) -> Plan[bool]:
        events = LinkEvents(self.link_events_stream, self.stream_maxlen)
        return bool((yield from unlinked_all(user_id, events, "web_app")))

    def _actions(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> Feed[ActionEvent]:
        return read_events(
            self.actions_stream,
            group,
            consumer,
            ActionEvent.from_entry,
            wait=checked_wait(wait),
            stop_after=stop_after,
        )

    def _link_events(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> Feed[LinkEvent]:
        return read_events(
            self.link_events_stream,
            group,
            consumer,
            LinkEvent.from_entry,
            wait=checked_wait(wait),
            stop_after=stop_after,
        )

    def _feedback(
        self, group: str, consumer: str, wait: float, stop_after: float | None
    ) -> Feed[FeedbackEvent]:
        return read_events(
            self.feedback_stream,
            group,
            consumer,
            FeedbackEvent.from_entry,
            wait=checked_wait(wait),
            stop_after=stop_after,
        )


def _username(stored: bytes | str | None) -> str:
    name = stored.decode() if isinstance(stored, bytes) else stored
    if not name:
        raise LookupError(
            "the bot's username is unknown: start the bot once (it records it in Redis) "
            "or pass bot_username="
        )
    return name
