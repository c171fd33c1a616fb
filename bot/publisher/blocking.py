"""`Publisher`: the operations with a blocking `redis.Redis` client (Django, Flask, a script)."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, Literal, Unpack

import redis

from bot.notification.schema import REMIND_MIN_SECONDS, ChatKind, Priority
from bot.preferences import Category, Preferences
from bot.publisher import payloads
from bot.publisher.events import EVENTS_WAIT, ActionEvent, FeedbackEvent, LinkEvent
from bot.publisher.manifest import Template
from bot.publisher.operations import (
    DEFAULT_ACTIONS_STREAM,
    DEFAULT_CHANNEL,
    DEFAULT_FEEDBACK_STREAM,
    DEFAULT_LINK_TTL,
    DEFAULT_REDIS_URL,
    DEFAULT_STREAM,
    DEFAULT_STREAM_MAXLEN,
    Operations,
)
from bot.publisher.options import (
    EditOptions,
    FanOutOptions,
    Options,
    PreferenceChanges,
    Receipts,
    Via,
)
from bot.publisher.payloads import Published
from bot.store import client as redis_client
from bot.store.link_events import DEFAULT_STREAM as DEFAULT_LINK_EVENTS_STREAM
from bot.store.plans import feed, run


class Publisher(Operations[redis.Redis]):
    """Publishes notifications and creates deep links with a blocking `redis.Redis` client.

    `publish` and `enqueue` add to the durable stream: it waits in Redis until a bot delivers
    it, even one started later or after a change of leader. `publish(..., via="pubsub")` is
    fire-and-forget pub/sub: only a bot listening at that moment receives it. `edit`, `delete`,
    `cancel`, `ack` and `fan_out` always go on the durable stream: they must not be lost.

    The stream is one per priority; the bot reads high before normal before bulk, and keeps
    each user's notifications in the order it read them. So an edit or delete enqueued after
    its send, with the same priority, applies after the send.

    Instead of a message, a notification may name one of the running bot's templates
    (`template=`, `data=`): it is checked first against what that bot declared at start-up
    (`templates()`, and the fields it reads), at the cost of one read. A message costs none.
    """

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_REDIS_URL,
        channel: str = DEFAULT_CHANNEL,
        stream: str = DEFAULT_STREAM,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        actions_stream: str = DEFAULT_ACTIONS_STREAM,
        *,
        link_events_stream: str = DEFAULT_LINK_EVENTS_STREAM,
        feedback_stream: str = DEFAULT_FEEDBACK_STREAM,
        remind_min_seconds: int = REMIND_MIN_SECONDS,
    ) -> Publisher:
        """A publisher with a connection of its own.

        Args:
            url: the Redis the bot reads (REDIS_URL), e.g. "redis://localhost:6379/0".
            channel: the pub/sub channel (NOTIFICATION_CHANNEL).
            stream: the durable stream (NOTIFICATION_STREAM); "" publishes on the channel.
            stream_maxlen: about how many entries it keeps (NOTIFICATION_STREAM_MAXLEN).
            actions_stream: where the bot reports taps on action buttons (ACTIONS_STREAM).
            link_events_stream: chats linked and unlinked (LINK_EVENTS_STREAM).
            feedback_stream: replies, reactions and reminders nobody acknowledged
                (FEEDBACK_STREAM).
            remind_min_seconds: the shortest `remind` interval the bot takes, if its
                REMIND_MIN_SECONDS is lowered (default 60): shorter ones raise ValueError.

        Returns:
            The publisher; its connections open on first use.
        """
        return cls(
            redis_client.sync_client(url),
            channel,
            stream,
            stream_maxlen,
            actions_stream,
            link_events_stream=link_events_stream,
            feedback_stream=feedback_stream,
            remind_min_seconds=remind_min_seconds,
        )

    def publish(
        self,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        via: Via = "stream",
        **options: Unpack[Options],
    ) -> Published:
        """Publish one notification: a message, or a template of the bot's with its data.

        Args:
            user_id: the web app's id of the user to notify.
            message: the text, read as `format` says; None with a template.
            template: instead of a message, the name of one of the running bot's templates
                (`templates()`), rendered in each reader's language; it brings its own format
                and buttons (leave those out). Checked first against what the bot declared
                (one more read): ValueError for a name it does not have, or a bot too old to
                read templates.
            data: the template's values, a JSON object (at most 16 KB) naming each of its
                variables.
            via: "stream" (the default): added to the durable stream of its priority, as
                `enqueue` does; delivered even if no bot runs now or the leader changes.
                "pubsub": PUBLISHed on the channel, marked with this database's deployment
                (`notify:bot_id` and the db number) so bots of other databases of the server
                drop it; only a bot listening now receives it. A publisher made with no stream
                (an empty name) publishes on the channel.
            **options: the notification's fields (docs: reference/notification-fields.md).
                Besides those of the message: `expires_at=` a datetime with a time zone (or an
                ISO 8601 string with one) or Unix seconds, refused if past; or `ttl=` seconds after
                publishing: not sent later. `deliver_at=` a datetime with a time zone (or
                ISO 8601 string), or a number of SECONDS FROM NOW (not Unix seconds): held
                until then, at most a year ahead. `priority=` "high", "normal" (default) or
                "bulk". `reply=True` opens a reply field under the message (a str: its
                placeholder, 1-64 characters), the answer comes back from `feedback()`; not
                with buttons. `remind=(every, times)` (or a mapping of them): sent again
                every `every` seconds (at least 60 unless the bot lowered it), at most `times`
                (1-10) more times until acknowledged (`ack`, a tap, a reply or a reaction).
                Both need an `id` and the bot to read them (ValueError otherwise).

        Returns:
            Published, an int: 1 with `entry_id` on the stream; on pub/sub the bots that
            received it (0: lost), `entry_id` None.

        Raises:
            ValueError: one line naming the field, for a notification the bot would refuse:
                also both a message and a template, or neither; a template the running bot
                does not have (naming those it has), a variable missing from `data`
                ("data.eta: missing (template order_shipped)"); a field the running bot does
                not read (it is older than this publisher).
        """
        notification = payloads.send(
            user_id,
            message,
            options,
            template=template,
            data=data,
            remind_min_seconds=self.remind_min_seconds,
        )
        return run(self.client, self._publish(notification, via))

    def enqueue(
        self,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        **options: Unpack[Options],
    ) -> str:
        """Add one notification to the durable stream of its priority.

        Args:
            user_id: the web app's id of the user to notify.
            message: the text, read as `format` says; None with a template.
            template: instead of a message, one of the running bot's templates (as for
                `publish`).
            data: the template's values.
            **options: as for `publish` (which does the same, returning Published).

        Returns:
            The stream entry's id.
        """
        notification = payloads.send(
            user_id,
            message,
            options,
            template=template,
            data=data,
            remind_min_seconds=self.remind_min_seconds,
        )
        return run(self.client, self._add(notification))

    def edit(
        self,
        id: str,
        user_id: int,
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        **options: Unpack[EditOptions],
    ) -> str:
        """Change the message(s) sent for a notification; durable (the stream of `priority`,
        default normal).

        Args:
            id: the notification's id.
            user_id: the user it was sent to.
            message: the new text, read as `format` says; None keeps the text.
            template: instead of a message, one of the running bot's templates (as for
                `publish`), rendered anew with its buttons.
            data: the template's values.
            **options: `buttons` are those shown afterwards: left out, none, as in Telegram;
                `buttons=[]` without a message removes them and keeps the text. `format`,
                `preview`, `priority`, and for parts sent anew `silent`, `protect`, `thread_id`.

        Returns:
            The stream entry's id.
        """
        notification = payloads.edit(id, user_id, message, options, template=template, data=data)
        return run(self.client, self._add(notification))

    def delete(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        """Delete the message(s) sent for a notification; durable.

        Args:
            id: the notification's id.
            user_id: the user it was sent to.
            priority: the stream it goes on (default normal: after a normal send before it).

        Returns:
            The stream entry's id.
        """
        return run(self.client, self._add(payloads.delete(id, user_id, priority)))

    def cancel(self, id: str) -> str:
        """Stop a notification not sent yet: one held for its `deliver_at`, or what is left of
        a fan-out. Durable (the normal stream).

        Args:
            id: the notification's or the fan-out's id.

        Returns:
            The stream entry's id.
        """
        return run(self.client, self._add(payloads.cancel(id)))

    def ack(self, id: str, user_id: int, *, priority: Priority | None = None) -> str:
        """Acknowledge a notification for its user: no more of its reminders (`remind=`), e.g.
        once the web app saw the user act on it elsewhere. Durable (the stream of `priority`).

        Args:
            id: the notification's id.
            user_id: the user it was sent to.
            priority: the stream it goes on (default normal).

        Returns:
            The stream entry's id.

        Raises:
            ValueError: the running bot says which fields it reads and `remind` is not one of
                them: it sends no reminders and would refuse op ack (one read more).
        """
        return run(self.client, self._ack(payloads.ack(id, user_id, priority)))

    def fan_out(
        self,
        user_ids: Sequence[int] | Literal["all"],
        message: str | None = None,
        *,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        id: str | None = None,
        receipts: Receipts = "summary",
        **options: Unpack[FanOutOptions],
    ) -> str:
        """One notification to each of many users, in one stream entry; durable.

        Args:
            user_ids: 1 to 10,000 user ids, or "all" linked users.
            message: the text, read as `format` says; None with a template.
            template: instead of a message, one of the running bot's templates (as for
                `publish`): each recipient reads it in their own language.
            data: the template's values, the same for every recipient.
            id: names the fan-out for `cancel` and its receipts.
            receipts: one at the end ("summary") or one per recipient too ("each").
            **options: as for `publish`; `priority` defaults to bulk.

        Returns:
            The stream entry's id.
        """
        notification = payloads.fan_out(
            user_ids, message, id, receipts, options, template=template, data=data
        )
        return run(self.client, self._add(notification))

    def actions(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[ActionEvent, None, None]:
        """Taps on action buttons, read from the actions stream with a consumer group. An
        event is acknowledged when the loop asks for the next one: leaving the loop (break, an
        exception) leaves it pending, and the next call with this consumer name yields it
        again.

        Args:
            group: the consumer group (made on first use, from the stream's start); each
                web-app process that reads with the same group gets a share of the events.
            consumer: this reader's name within the group: give each process its own.
            wait: how long one read waits for events (at most half the socket timeout).
            stop_after: stop once no event came for that many seconds (None: never).

        Returns:
            The events, as a generator.
        """
        return feed(self.client, self._actions(group, consumer, wait, stop_after))

    def link_events(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[LinkEvent, None, None]:
        """Chats linked and unlinked, read from the link events stream exactly as `actions`
        reads the actions stream.

        Args:
            group: the consumer group (made on first use, from the stream's start).
            consumer: this reader's name within the group.
            wait: how long one read waits for events (at most half the socket timeout).
            stop_after: stop once no event came for that many seconds (None: never).

        Returns:
            The events (`LinkEvent`: type, user_id, reason, at, chat, chats), as a generator.
        """
        return feed(self.client, self._link_events(group, consumer, wait, stop_after))

    def feedback(
        self,
        group: str,
        consumer: str = "web",
        *,
        wait: float = EVENTS_WAIT,
        stop_after: float | None = None,
    ) -> Generator[FeedbackEvent, None, None]:
        """What users said back to notifications sent with `reply` or `remind`: answers,
        reactions, reminders that all went out unacknowledged; read from the feedback stream
        exactly as `actions` reads the actions stream. An entry of a type this publisher does
        not know (a newer bot's) is skipped.

        Args:
            group: the consumer group (made on first use, from the stream's start).
            consumer: this reader's name within the group.
            wait: how long one read waits for events (at most half the socket timeout).
            stop_after: stop once no event came for that many seconds (None: never).

        Returns:
            The events (`FeedbackEvent`: type "reply", "reaction" or "unacknowledged", id,
            user_id, at and what that type carries), as a generator.
        """
        return feed(self.client, self._feedback(group, consumer, wait, stop_after))

    def create_link(
        self,
        user_id: int,
        *,
        ttl: int = DEFAULT_LINK_TTL,
        bot_username: str | None = None,
        group: bool = False,
    ) -> str:
        """A single-use https://t.me deep link that links the chat that opens it to a user.

        Args:
            user_id: the web app's id of the user.
            ttl: seconds the link works.
            bot_username: the bot's username; None reads what the bot recorded in Redis
                (LookupError before a bot has started once).
            group: a link that adds the bot to a group the user picks and links that group
                (an administrator of it must open it).

        Returns:
            The link.
        """
        return run(self.client, self._create_link(user_id, ttl, bot_username, group))

    def create_link_token(
        self, user_id: int, *, kind: ChatKind, ttl: int = DEFAULT_LINK_TTL
    ) -> str:
        """A single-use token that links a chat of `kind` to a user; for a channel, an
        administrator posts `/link <token>` in it (the bot, an administrator there, deletes
        the post and links the channel).

        Args:
            user_id: the web app's id of the user.
            kind: "private", "group" or "channel".
            ttl: seconds the token works.

        Returns:
            The token.
        """
        return run(self.client, self._create_link_token(user_id, kind, ttl))

    def is_linked(self, user_id: int) -> bool:
        """Whether a Telegram chat is linked to a user (e.g. to show "connected").

        Args:
            user_id: the web app's id of the user.

        Returns:
            True if at least one chat is.
        """
        return run(self.client, self._is_linked(user_id))

    def chats(self, user_id: int) -> tuple[ChatKind, ...]:
        """The kinds of a user's chats.

        Args:
            user_id: the web app's id of the user.

        Returns:
            "private", "group" or "channel" for each, oldest link first.
        """
        return run(self.client, self._chats(user_id))

    def categories(self) -> tuple[Category, ...]:
        """The categories the bot runs with (CATEGORIES), for a settings page.

        Returns:
            Them, in order; () until a bot with CATEGORIES has started on this Redis.
        """
        return run(self.client, self._categories())

    def templates(self) -> Mapping[str, Template]:
        """The templates the running bot has (TEMPLATES_DIR), as it declared them at start-up:
        what `template=` may name, and the variables its `data` must give.

        Returns:
            Each by name: a `Template` with its languages (the first is the fallback), its
            variables, format and default category; empty when the bot runs without
            templates.

        Raises:
            ValueError: no bot of this version has started on this database yet (nothing
                declared).
        """
        return run(self.client, self._templates())

    def get_preferences(self, user_id: int) -> Preferences:
        """What a user chose, in the chat or through `set_preferences`.

        Args:
            user_id: the web app's id of the user.

        Returns:
            Their preferences (the defaults if they chose nothing).
        """
        return run(self.client, self._get_preferences(user_id))

    def set_preferences(self, user_id: int, **changes: Unpack[PreferenceChanges]) -> Preferences:
        """Change some of a user's preferences, checked against the categories the bot runs
        with, in one transaction with whatever the user changes in the chat at that moment.

        Args:
            user_id: the web app's id of the user.
            **changes: what to change (PreferenceChanges); what is left out stays.

        Returns:
            Their preferences as they are now; the chat's /settings shows the same.

        Raises:
            ValueError: nothing changed: a category is not declared or cannot be muted, or a
                value is wrong (one line naming it).
        """
        return run(self.client, self._set_preferences(user_id, changes))

    def unlink(self, user_id: int) -> bool:
        """Remove all of a user's chats (e.g. when the account is deleted), with an `unlinked`
        link event each (reason web_app) in the same transaction.

        Args:
            user_id: the web app's id of the user.

        Returns:
            False if none was linked (and no event).
        """
        return run(self.client, self._unlink(user_id))
