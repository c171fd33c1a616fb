"""A notification's life after its send when it may be answered: its messages are noted as its
(a reply or a reaction to them names it), its reminders are kept in the schedule, and the
schedule's `{"op": "remind"}` sends the next one (as a reply to the first, to the chats it
reached) until it is acknowledged; `{"op": "ack"}` is the web app's acknowledgement."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
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
from bot.store.chats import decode_chats
from bot.store.clock import RedisClock, now_iso
from bot.store.counters import STATS, Stats
from bot.store.feedback import About, FeedbackStore, note_keys, note_value, queue_about
from bot.store.languages import language_from, queue_language_read
from bot.store.memory import Memory, queue_recall, recalled
from bot.store.preferences import PREFERENCES, preferences_from
from bot.store.registry import ChatRegistry
from bot.store.reminders import (
    Reminders,
    lifetime,
    queue_continue,
    queue_edit,
    queue_read,
    queue_stop,
)
from bot.store.roundtrips import Queue, RoundTrips
from bot.templates.render import RenderError

log = structlog.get_logger(__name__)

Deliver = Callable[[Parsed, Target], Awaitable[Result]]
# A reminder's send that cannot reach anyone any more: no more reminders.
GIVE_UP = (Outcome.BLOCKED, Outcome.UNLINKED, Outcome.INVALID)
# What a reminder shows: an edit replaces it.
CONTENT = ("message", "format", "buttons", "template", "data")


@dataclass(frozen=True)
class Step:
    """A reminder step's notification: its id and user (the schema requires both)."""

    id: str
    user_id: int

    @classmethod
    def of(cls, envelope: Envelope) -> Step:
        notification_id, user_id = envelope.id, envelope.user_id
        assert notification_id is not None  # noqa: S101
        assert user_id is not None  # noqa: S101
        return cls(notification_id, user_id)


def _sent_messages(result: Result) -> list[tuple[int, int]]:
    return [
        (r.result.chat_id or r.chat.chat_id, i) for r in result.chats for i in r.result.message_ids
    ]


class Reminding:
    """What a send with an id leaves for later (`after_send`), what an edit or a delete changes
    (`after_change`), the schedule's reminder steps (`remind`) and the web app's
    acknowledgement (`ack`)."""

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
        its first reminder held when it asked for them (unless a tap acknowledged it already,
        between Telegram's answer and now)."""
        notification = envelope.notification
        if (
            notification is None
            or notification.op != "send"
            or envelope.part is not None
            or result.outcome is not Outcome.SENT
        ):
            return None
        step = Step.of(envelope)
        messages = _sent_messages(result)
        about = About(step.id, step.user_id)
        remind = notification.remind
        if remind is None:
            seconds = self._memory_seconds
            return lambda pipe: queue_about(pipe, messages, about, seconds)
        payload = _reminder_payload(notification)
        reminders = Reminders(
            step.user_id, remind.every, remind.times, 0, payload, envelope.expires
        )
        now = time.time() + self._clock.offset
        received_ms = round((envelope.received_at + self._clock.offset) * 1000)
        seconds = lifetime(remind.every, remind.times, self._memory_seconds)

        def writes(pipe: Pipeline) -> None:
            queue_continue(
                pipe,
                step.id,
                reminders,
                first=True,
                received_ms=received_ms,
                rank=envelope.rank,
                due=now + remind.every,
                seconds=seconds,
                notes=(note_keys(messages), note_value(about)),
            )

        return writes

    def after_change(
        self, envelope: Envelope, reminders: Reminders | None, result: Result
    ) -> Queue | None:
        """An edit's content for the reminders to come (they show what it shows now;
        `reminders`: as read before the edit, in its round trip); a delete ends them."""
        notification = envelope.notification
        if notification is None or notification.id is None:
            return None
        notification_id = notification.id
        if result.outcome is Outcome.DELETED:
            return lambda pipe: queue_stop(pipe, notification_id)
        if (
            result.outcome is not Outcome.EDITED
            or reminders is None
            or reminders.user_id != notification.user_id
        ):
            return None
        payload = _edited_payload(reminders.payload, notification)
        return lambda pipe: queue_edit(pipe, notification_id, payload)

    async def ack(self, envelope: Envelope) -> None:
        """`{"op": "ack"}`: the web app says the notification was seen to."""
        step = Step.of(envelope)
        about = About(step.id, step.user_id)
        stopped = await self._redis.until_up(lambda: self._feedback.acknowledge(about, "op"))
        if stopped:
            self._stats.feedback["acknowledged"] += 1
        reason = "its reminders stopped" if stopped else "no reminders were pending"
        await self._settler.settle(envelope, Outcome.ACKNOWLEDGED, reason)

    async def remind(self, envelope: Envelope) -> None:
        """`{"op": "remind"}` (held in the schedule by the send or the reminder before): the
        next reminder, or the event that its reminders ended unacknowledged."""
        step = Step.of(envelope)

        def read(pipe: Pipeline) -> None:
            queue_read(pipe, step.id)
            queue_recall(pipe, step.id)
            ChatRegistry.queue_chats_for(pipe, step.user_id)
            pipe.hget(PREFERENCES, str(step.user_id))
            queue_language_read(pipe, step.user_id)

        result, writes = await self._next(envelope, step, await self._trip(read))
        await self._settler.settle_result(envelope, result, extra=writes)

    async def _next(
        self, envelope: Envelope, step: Step, replies: Sequence[Any]
    ) -> tuple[Result, Queue]:
        stored, remembered, chats_stored, preferences_stored, language_stored = replies
        reminders = Reminders.from_hash(stored)
        memory = recalled(remembered)
        now = time.time() + self._clock.offset
        ended = self._ended(step, reminders, memory, now)
        if ended is not None:
            return ended
        assert reminders is not None  # _ended says so  # noqa: S101
        assert memory is not None  # noqa: S101
        first = {m.chat_id: m.message_ids[0] for m in memory if not m.copy and m.message_ids}
        chats = tuple(c for c in decode_chats(chats_stored) if c.chat_id in first)
        if not chats:
            unlinked = Result(Outcome.UNLINKED, "no chat it reached is linked any more")
            return self._end(step, reminders, unlinked, "unlinked")
        preferences = preferences_from(preferences_stored)
        telegram_language = language_from(language_stored)
        try:
            parsed = self._content(reminders, preferences, telegram_language)
        except (ValueError, RenderError) as exc:
            invalid = Result(Outcome.INVALID, f"its reminder: {exc}")
            return self._end(step, reminders, invalid, "invalid")
        preferred = self._preferred(envelope, step, parsed, preferences, reminders)
        if not isinstance(preferred, Parsed):
            return preferred
        languages = self._planner.languages(preferences, telegram_language)
        mute = self._planner.mute_button(
            preferred.notification,
            self._planner.category(preferred.notification.category),
            languages,
        )
        return await self._send(
            envelope,
            step,
            preferred,
            reminders,
            memory=memory,
            target=Target(chats, rank=envelope.rank, mute=mute, reply_to=first),
            now=now,
        )

    def _ended(
        self,
        step: Step,
        reminders: Reminders | None,
        memory: tuple[Memory, ...] | None,
        now: float,
    ) -> tuple[Result, Queue] | None:
        """The step's outcome and writes when the reminders end here; None while they go on."""
        if reminders is None or reminders.user_id != step.user_id:
            why = "no reminders are pending (acknowledged, deleted or cancelled)"
            return Result(Outcome.CANCELLED, why), self._stop(step)
        if not memory:
            return Result(Outcome.CANCELLED, "nothing sent for it is remembered"), self._stop(step)
        if reminders.expires is not None and now >= reminders.expires:
            return self._end(step, reminders, Result(Outcome.CANCELLED, "expired"), "expired")
        if reminders.sent >= reminders.times:
            reason = f"no acknowledgement after {reminders.sent} reminders"
            return self._end(step, reminders, Result(Outcome.UNACKNOWLEDGED, reason), "unanswered")
        return None

    def _preferred(
        self,
        envelope: Envelope,
        step: Step,
        parsed: Parsed,
        preferences: Preferences | None,
        reminders: Reminders,
    ) -> Parsed | tuple[Result, Queue]:
        """The reminder as the user's preferences have it now: muted (no more), held for
        quiet hours (then sent), silent, or as it is."""
        notification = parsed.notification
        category = self._planner.category(notification.category)
        decision = decide(
            preferences, category, rank=envelope.rank, digest_windows={}, now=self._planner.clock()
        )
        if decision.action == "mute":
            muted = Result(Outcome.MUTED, f"the user muted {notification.category}")
            return self._end(step, reminders, muted, "muted")
        until = decision.until
        if (
            decision.action == "hold"
            and until is not None
            and until - self._planner.clock() >= HOLD_AT_LEAST
        ):
            # Quiet hours go by Redis's clock (the planner's), as the schedule does.
            held = self._again(envelope, step, reminders, until)
            return Result(Outcome.HELD, "quiet hours"), held
        if decision.silent and not notification.silent:
            return parsed.copy_with(silent=True)
        return parsed

    async def _send(
        self,
        envelope: Envelope,
        step: Step,
        parsed: Parsed,
        reminders: Reminders,
        *,
        memory: tuple[Memory, ...],
        target: Target,
        now: float,
    ) -> tuple[Result, Queue]:
        """Send the reminder to the chats it reached, each a reply to the notification's first
        message there, and hold the next one."""
        key = await self._issue(parsed)
        expires = reminders.expires
        target = replace(
            target,
            action_key=key,
            expires=None if expires is None else expires - self._clock.offset,
        )
        result = await self._deliver(parsed, target)
        if result.outcome in GIVE_UP:
            return self._end(step, reminders, result, result.outcome.value)
        counted = replace(reminders, sent=reminders.sent + 1)
        if result.outcome is not Outcome.SENT:  # Telegram refused this one: the next may do
            return result, self._again(envelope, step, counted, now + reminders.every)
        self._stats.feedback["reminders"] += 1
        log.info("reminder_sent", id=step.id, user_id=step.user_id, reminder=counted.sent)
        copies = tuple(replace(r.memory, copy=True) for r in result.chats if r.memory)
        messages = _sent_messages(result)
        again = self._again(
            envelope,
            step,
            counted,
            now + reminders.every,
            memory=Memory.to_json((*memory, *copies)),
            messages=messages,
        )
        actions = self._actions

        def writes(pipe: Pipeline) -> None:
            again(pipe)
            pipe.hincrby(STATS, "reminders", 1)
            if actions is not None and key is not None:
                actions.queue_shows(pipe, messages, key)

        return result, writes

    def _again(
        self,
        envelope: Envelope,
        step: Step,
        reminders: Reminders,
        due: float,
        *,
        memory: str = "",
        messages: list[tuple[int, int]] | None = None,
    ) -> Queue:
        """Hold the next step until `due` (Redis's clock) while the reminders are pending;
        remember a reminder's messages with the notification's (`memory`) and note them."""
        seconds = lifetime(reminders.every, reminders.times, self._memory_seconds)
        notes = (note_keys(messages or []), note_value(About(step.id, step.user_id)))

        def writes(pipe: Pipeline) -> None:
            queue_continue(
                pipe,
                step.id,
                reminders,
                first=False,
                received_ms=0,
                rank=envelope.rank,
                due=due,
                seconds=seconds,
                memory=memory,
                notes=notes,
            )

        return writes

    @staticmethod
    def _stop(step: Step) -> Queue:
        return lambda pipe: queue_stop(pipe, step.id)

    def _end(
        self, step: Step, reminders: Reminders, result: Result, why: str
    ) -> tuple[Result, Queue]:
        """No more reminders, and nobody acknowledged it: the event that tells the web app
        (after the last one: "unanswered"; or why they could not go on: "blocked",
        "unlinked", "muted", "expired", "invalid"), to fall back to e-mail or a phone call."""
        event = {
            "type": "unacknowledged",
            "id": step.id,
            "user_id": step.user_id,
            "reminders": reminders.sent,
            "reason": why,
            "at": now_iso(),
        }
        feedback = self._feedback
        self._stats.feedback["unacknowledged"] += 1
        log.info("reminders_unacknowledged", id=step.id, reason=why, reminders=reminders.sent)

        def writes(pipe: Pipeline) -> None:
            queue_stop(pipe, step.id)
            feedback.queue_add(pipe, event, "unacknowledged")

        return result, writes

    def _content(
        self, reminders: Reminders, preferences: Preferences | None, telegram_language: str | None
    ) -> Parsed:
        """What the reminder shows: the notification as published (or as edited since),
        rendered again for the reader when it is a template's (in their language now)."""
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

        await self._trip(issue)
        return key

    async def _trip(self, queue: Queue) -> list[Any]:
        """One round trip, shared with the lanes', waiting out a Redis outage."""
        replies: list[Any] = await self._redis.until_up(lambda: self._trips.run(queue))
        return replies


def _edited_payload(payload: str, edit: Notification) -> str:
    """A reminder's payload with an edit's content: a new message (or template) replaces the
    old one with its buttons; buttons alone replace the buttons (and close the reply field:
    Telegram shows no reply field beside buttons)."""
    fields = json.loads(payload)
    content: tuple[str, ...] = ("message", "format", "buttons")
    if edit.template is not None:  # rendered for its reader: rendered again then
        content = ("template", "data")
    new = edit.model_dump(mode="json", exclude_defaults=True, include=set(content))
    replaced = CONTENT if {"message", "template"} & edit.model_fields_set else ("buttons",)
    for name in replaced:
        fields.pop(name, None)
    if new.get("buttons"):
        fields.pop("reply", None)
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
