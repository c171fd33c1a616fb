"""A notification's life after its send when it asked for feedback: its messages are noted as
its (a reply or a reaction to them names it), its reminders are kept in the schedule, and the
schedule's `{"op": "remind"}` sends the next one (as a reply to the first, to the chats it
reached) until it is acknowledged; `{"op": "ack"}` stops them."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import structlog
from redis.asyncio.client import Pipeline

from bot.loops.reconnect import Outage
from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed, parse_fields
from bot.notification.schema import Notification
from bot.pipeline.envelope import Envelope
from bot.pipeline.plan import HOLD_AT_LEAST, Planner
from bot.pipeline.results import Result, Target
from bot.pipeline.settle import Settler
from bot.pipeline.templating import Templating, actions_of
from bot.preferences import Preferences, decide
from bot.store.actions import ActionStore, new_key
from bot.store.chats import LinkedChat, decode_chats
from bot.store.clock import RedisClock
from bot.store.counters import STATS, Stats
from bot.store.feedback import (
    About,
    FeedbackStore,
    Reminders,
    now_iso,
    queue_about,
    queue_reminders,
    queue_reminders_edit,
    queue_reminders_read,
    queue_stop_reminders,
)
from bot.store.languages import language_from, queue_language_read
from bot.store.memory import Memory, queue_recall, queue_remember, recalled
from bot.store.preferences import PREFERENCES, preferences_from
from bot.store.registry import ChatRegistry
from bot.store.roundtrips import Queue, RoundTrips
from bot.templates.render import RenderError

log = structlog.get_logger(__name__)

Deliver = Callable[[Parsed, Target], Awaitable[Result]]
# A reminder's send that did not reach the chat for good: no more reminders.
GIVE_UP = (Outcome.BLOCKED, Outcome.UNLINKED, Outcome.INVALID)


def _sent_messages(result: Result) -> list[tuple[int, int]]:
    return [
        (r.result.chat_id or r.chat.chat_id, i) for r in result.chats for i in r.result.message_ids
    ]


class Reminding:
    """What a send with an id leaves for later (`after_send`), the schedule's reminders
    (`remind`) and the web app's acknowledgement (`ack`)."""

    def __init__(
        self,
        deliver: Deliver,
        settler: Settler,
        planner: Planner,
        feedback: FeedbackStore,
        *,
        trips: RoundTrips,
        redis: Outage,
        clock: RedisClock,
        stats: Stats,
        memory_seconds: int,
        max_chars: int,
        actions: ActionStore | None = None,
        templating: Templating | None = None,
        scheduled: bool = True,
    ) -> None:
        self._deliver = deliver
        self._settler = settler
        self._planner = planner
        self._feedback = feedback
        self._trips = trips
        self._redis = redis
        self._clock = clock
        self._stats = stats
        self._memory_seconds = memory_seconds
        self._max_chars = max_chars
        self._actions = actions
        self._templating = templating
        self.scheduled = scheduled  # reminders are held in the schedule (NOTIFICATION_STREAM)

    def after_send(self, envelope: Envelope, result: Result) -> Queue | None:
        """The writes a sent notification with an id needs: its messages noted as its, and
        its first reminder held when it asked for them."""
        notification = envelope.notification
        if (
            notification is None
            or notification.id is None
            or notification.user_id is None
            or envelope.part is not None
            or result.outcome is not Outcome.SENT
        ):
            return None
        messages = _sent_messages(result)
        about = About(notification.id, notification.user_id)
        remind = notification.remind
        seconds = self._memory_seconds
        if remind is None:
            return lambda pipe: queue_about(pipe, messages, about, seconds)
        reminders = Reminders(
            notification.user_id,
            remind.every,
            remind.times,
            0,
            _reminder_payload(notification),
            envelope.expires,
        )
        due = time.time() + self._clock.offset + remind.every

        def writes(pipe: Pipeline) -> None:
            queue_about(pipe, messages, about, seconds)
            queue_reminders(
                pipe, about.id, reminders, rank=envelope.rank, due=due, seconds=seconds, first=True
            )

        return writes

    async def after_edit(self, envelope: Envelope, result: Result) -> Queue | None:
        """The writes an edit needs when its notification's reminders are pending: the next
        reminders show what it shows now. (An edit and a reminder step of one user go through
        the user's lane one after the other: nothing writes the state in between.)"""
        notification = envelope.notification
        notification_id = envelope.id
        if notification is None or notification_id is None or result.outcome is not Outcome.EDITED:
            return None

        def read(pipe: Pipeline) -> None:
            queue_reminders_read(pipe, notification_id)

        (stored,) = await self._redis.until_up(lambda: self._trips.run(read))
        reminders = Reminders.from_json(stored)
        if reminders is None or reminders.user_id != notification.user_id:
            return None
        edited = replace(reminders, payload=_edited_payload(reminders.payload, notification))
        return lambda pipe: queue_reminders_edit(pipe, notification_id, edited)

    async def ack(self, envelope: Envelope) -> None:
        """`{"op": "ack"}`: the web app says the notification was seen to."""
        notification_id, user_id = envelope.id, envelope.user_id
        assert notification_id is not None  # the schema requires both  # noqa: S101
        assert user_id is not None  # noqa: S101
        stopped = await self._redis.until_up(
            lambda: self._feedback.acknowledge(notification_id, user_id, "op")
        )
        reason = "its reminders stopped" if stopped else "no reminders were pending"
        await self._settler.settle(envelope, Outcome.ACKNOWLEDGED, reason)

    async def remind(self, envelope: Envelope) -> None:
        """`{"op": "remind"}` (held in the schedule by the send or the reminder before): the
        next reminder, or the event that nobody acknowledged it after the last."""
        notification_id, user_id = envelope.id, envelope.user_id
        assert notification_id is not None  # noqa: S101
        assert user_id is not None  # noqa: S101

        def read(pipe: Pipeline) -> None:
            queue_reminders_read(pipe, notification_id)
            queue_recall(pipe, notification_id)
            ChatRegistry.queue_chats_for(pipe, user_id)
            pipe.hget(PREFERENCES, str(user_id))
            queue_language_read(pipe, user_id)

        replies = await self._redis.until_up(lambda: self._trips.run(read))
        result, writes = await self._next(envelope, replies)
        await self._settler.settle_result(envelope, result, extra=writes)

    async def _next(self, envelope: Envelope, replies: Sequence[Any]) -> tuple[Result, Queue]:
        notification_id = envelope.id
        assert notification_id is not None  # noqa: S101
        stored, remembered, chats_stored, preferences_stored, language_stored = replies

        def stop(pipe: Pipeline) -> None:
            queue_stop_reminders(pipe, notification_id)

        reminders = Reminders.from_json(stored)
        memory = recalled(remembered)
        now = time.time() + self._clock.offset
        ended = self._ended(envelope, reminders, memory, now)
        if ended is not None:
            return ended, stop
        assert reminders is not None  # noqa: S101
        assert memory is not None  # noqa: S101
        if reminders.sent >= reminders.times:
            return self._unacknowledged(notification_id, reminders, stop)
        first = {m.chat_id: m.message_ids[0] for m in memory if not m.copy and m.message_ids}
        chats = tuple(c for c in decode_chats(chats_stored) if c.chat_id in first)
        if not chats:
            return Result(Outcome.UNLINKED, "no chat it reached is linked any more"), stop
        preferences = preferences_from(preferences_stored)
        try:
            parsed = self._content(reminders, preferences, language_from(language_stored))
        except (ValueError, RenderError) as exc:
            return Result(Outcome.INVALID, f"its reminder: {exc}"), stop
        preferred = self._preferred(envelope, parsed, preferences, reminders, stop)
        if not isinstance(preferred, Parsed):
            return preferred
        return await self._send(
            envelope, preferred, reminders, memory=memory, chats=chats, first=first, now=now
        )

    def _preferred(
        self,
        envelope: Envelope,
        parsed: Parsed,
        preferences: Preferences | None,
        reminders: Reminders,
        stop: Queue,
    ) -> Parsed | tuple[Result, Queue]:
        """The reminder as the user's preferences have it now: muted (no more), held for
        quiet hours (then sent), silent, or as it is."""
        notification = parsed.notification
        category = self._planner.category(notification.category)
        decision = decide(
            preferences, category, rank=envelope.rank, digest_windows={}, now=self._planner.clock()
        )
        if decision.action == "mute":
            return Result(Outcome.MUTED, f"the user muted {notification.category}"), stop
        until = decision.until
        if (
            decision.action == "hold"
            and until is not None
            and until - self._planner.clock() >= HOLD_AT_LEAST
        ):
            # Quiet hours go by Redis's clock (the planner's), as the schedule does.
            return Result(Outcome.HELD, "quiet hours"), self._again(envelope, reminders, until)
        if decision.silent and not notification.silent:
            return parsed.copy_with(silent=True)
        return parsed

    @staticmethod
    def _ended(
        envelope: Envelope,
        reminders: Reminders | None,
        memory: tuple[Memory, ...] | None,
        now: float,
    ) -> Result | None:
        """Why no more reminders go out (as the step's outcome); None while they may."""
        if reminders is None or reminders.user_id != envelope.user_id:
            why = "no reminders are pending (acknowledged, deleted or cancelled)"
            return Result(Outcome.CANCELLED, why)
        if not memory:
            return Result(Outcome.CANCELLED, "deleted: nothing sent for it is remembered")
        if reminders.expires is not None and now >= reminders.expires:
            return Result(Outcome.CANCELLED, "expired: no more reminders")
        return None

    async def _send(
        self,
        envelope: Envelope,
        parsed: Parsed,
        reminders: Reminders,
        *,
        memory: tuple[Memory, ...],
        chats: tuple[LinkedChat, ...],
        first: dict[int, int],
        now: float,
    ) -> tuple[Result, Queue]:
        """Send the reminder to `chats`, each a reply to the notification's first message
        there, and hold the next one."""
        key = await self._issue(parsed)
        expires = reminders.expires
        target = Target(
            chats,
            key,
            None,
            None if expires is None else expires - self._clock.offset,
            envelope.rank,
            reply_to=first,
        )
        result = await self._deliver(parsed, target)
        if result.outcome in GIVE_UP:
            notification_id = envelope.id
            assert notification_id is not None  # noqa: S101
            return result, lambda pipe: queue_stop_reminders(pipe, notification_id)
        counted = replace(reminders, sent=reminders.sent + 1)
        again = self._again(envelope, counted, now + reminders.every)
        if result.outcome is not Outcome.SENT:
            return result, again  # Telegram refused this one: the next may go through
        self._stats.feedback["reminders"] += 1
        log.info("reminder_sent", id=envelope.id, user_id=envelope.user_id, reminder=counted.sent)
        return result, self._copies(envelope, memory, result, key, again)

    def _unacknowledged(
        self, notification_id: str, reminders: Reminders, stop: Queue
    ) -> tuple[Result, Queue]:
        """Its last reminder went unanswered: the event that tells the web app so."""
        event = {
            "type": "unacknowledged",
            "id": notification_id,
            "user_id": reminders.user_id,
            "reminders": reminders.sent,
            "at": now_iso(),
        }

        def writes(pipe: Pipeline) -> None:
            stop(pipe)
            self._feedback.queue_add(pipe, event)

        reason = f"no acknowledgement after {reminders.sent} reminders"
        return Result(Outcome.UNACKNOWLEDGED, reason), writes

    def _content(
        self, reminders: Reminders, preferences: Preferences | None, telegram_language: str | None
    ) -> Parsed:
        """What the reminder shows: the notification as first published, rendered again for
        the reader when it is a template's (in the language the user has now)."""
        parsed = parse_fields(json.loads(reminders.payload), self._max_chars)
        if parsed.notification.template is None:
            return parsed
        if self._templating is None:
            raise ValueError("template: templates are off here (TEMPLATES_DIR)")
        parsed = self._templating.prepare(parsed)
        rendered, _language = self._templating.for_reader(
            parsed,
            preferences.language if preferences else None,
            telegram_language,
            preferences.timezone if preferences else None,
        )
        return rendered

    async def _issue(self, parsed: Parsed) -> str | None:
        """A key for the reminder's action buttons (they report what the first's do)."""
        actions = self._actions
        reported = actions_of(parsed)
        if actions is None or not reported:
            return None
        key = new_key()

        def issue(pipe: Pipeline) -> None:
            actions.queue_issue(pipe, key, parsed.notification, reported)

        await self._redis.until_up(lambda: self._trips.run(issue))
        return key

    def _again(self, envelope: Envelope, reminders: Reminders, due: float) -> Queue:
        notification_id = envelope.id
        assert notification_id is not None  # noqa: S101
        seconds = self._memory_seconds

        def writes(pipe: Pipeline) -> None:
            queue_reminders(
                pipe, notification_id, reminders, rank=envelope.rank, due=due, seconds=seconds
            )

        return writes

    def _copies(
        self,
        envelope: Envelope,
        memory: tuple[Memory, ...],
        result: Result,
        key: str | None,
        again: Queue,
    ) -> Queue:
        """Remember the reminder's messages as copies of the notification (an edit or a
        delete by id changes them too), note them as its, and let their buttons report."""
        notification_id, user_id = envelope.id, envelope.user_id
        assert notification_id is not None  # noqa: S101
        assert user_id is not None  # noqa: S101
        copies = tuple(replace(r.memory, copy=True) for r in result.chats if r.memory)
        messages = _sent_messages(result)
        about = About(notification_id, user_id)
        seconds, actions = self._memory_seconds, self._actions

        def writes(pipe: Pipeline) -> None:
            again(pipe)
            queue_remember(pipe, notification_id, (*memory, *copies), seconds)
            queue_about(pipe, messages, about, seconds)
            pipe.hincrby(STATS, "reminders", 1)
            if actions is not None and key is not None:
                actions.queue_shows(pipe, messages, key)

        return writes


CONTENT = ("message", "format", "buttons", "template", "data")


def _edited_payload(payload: str, edit: Notification) -> str:
    """A reminder's payload with an edit's content: a new message (or template) replaces the
    old one with its buttons; buttons alone replace the buttons."""
    fields = json.loads(payload)
    given = {"message", "template"} & edit.model_fields_set
    content: tuple[str, ...] = ("message", "format", "buttons")
    if edit.template is not None:  # rendered for its reader: rendered again then
        content = ("template", "data")
    new = edit.model_dump(mode="json", exclude_defaults=True, include=set(content))
    for name in CONTENT if given else ("buttons",):
        fields.pop(name, None)
    fields.update(new)
    return json.dumps(fields, ensure_ascii=False)


def _reminder_payload(notification: Notification) -> str:
    """What a reminder sends again: the notification as published, without what was about
    its first send (when, how often to remind)."""
    excluded = {"deliver_at", "remind", "ttl", "expires_at"}
    if notification.template is not None:  # rendered for its reader: rendered again then
        excluded |= {"message", "format", "buttons"}
    fields = notification.model_dump(mode="json", exclude_defaults=True, exclude=excluded)
    return json.dumps(fields, ensure_ascii=False)
