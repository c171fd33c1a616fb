"""What to do with one notification for its user, given the preferences read before its send:
send it (perhaps silently, perhaps with a mute button), or settle it without a send (muted),
or keep it in Redis for later (held for quiet hours, added to a digest); and a digest's flush
turned into the message it sends."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import structlog
from redis.asyncio.client import Pipeline

from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed, parse_fields
from bot.notification.schema import Notification
from bot.pipeline.digest import digest_line, digest_text
from bot.pipeline.envelope import Envelope
from bot.pipeline.results import Result
from bot.preferences import (
    DEFAULT_DIGEST_SECONDS,
    Category,
    Decision,
    Preferences,
    decide,
)
from bot.store.digests import queue_digest_add, queue_digest_done
from bot.store.roundtrips import Queue
from bot.store.schedule import ScheduleStore

log = structlog.get_logger(__name__)

# Quiet hours that end sooner than this are not held for: a notification released at their end
# by Redis's clock may still be "inside" them by this process's (clocks differ a little).
HOLD_AT_LEAST = 1.0


@dataclass(frozen=True)
class Plan:
    parsed: Parsed  # what to send: as published, silenced, or a digest's text
    result: Result | None = None  # decided without a send
    mute: Category | None = None  # a mute button under it, for this category
    writes: Callable[[Result], Queue | None] | None = None  # into the settling round trip
    holds: bool = False  # something went into the schedule: the releaser should look

    def after(self, result: Result) -> Queue | None:
        return None if self.writes is None else self.writes(result)


class Planner:
    """Applies the users' preferences. Without a schedule (no NOTIFICATION_STREAM) nothing can
    be kept for later: quiet hours send silently instead of holding, and digests are off."""

    def __init__(
        self,
        categories: Iterable[Category] = (),
        digest_windows: Mapping[str, int] | None = None,
        *,
        schedule: ScheduleStore | None = None,
        clock: Callable[[], float] = time.time,
        default_language: str = "en",
    ) -> None:
        self._categories = {category.name: category for category in categories}
        self._windows = dict(digest_windows or {}) if schedule is not None else {}
        self._schedule = schedule
        self.clock = clock  # what "now" is for quiet hours and digest windows (tests set it)
        self._undeclared: set[str] = set()
        self._default_language = default_language

    def plan(
        self,
        envelope: Envelope,
        preferences: Preferences | None,
        digest: list[str] | None,
        dropped: int = 0,
        telegram_language: str | None = None,
    ) -> Plan:
        """`telegram_language`: the user's as Telegram reported it, for category labels (after
        the user's pick; then DEFAULT_LANGUAGE)."""
        parsed = envelope.parsed
        assert parsed is not None  # noqa: S101
        notification = parsed.notification
        languages = self.languages(preferences, telegram_language)
        if notification.op == "digest":
            return self._flush(
                envelope, parsed, preferences, digest or [], dropped, languages=languages
            )
        if notification.op != "send":
            return Plan(parsed)
        category = self._category(notification.category)
        decision = decide(
            preferences,
            category,
            rank=envelope.rank,
            digest_windows=self._windows,
            now=self.clock(),
            # Released at the end of quiet hours (held ones lose their deliver_at); one released
            # at its deliver_at is in the user's quiet hours as any other.
            released=envelope.released and notification.deliver_at is None,
        )
        mute = self.mute_button(notification, category, languages)
        if decision.action == "mute":
            assert category is not None  # only a declared category is muted  # noqa: S101
            return Plan(parsed, Result(Outcome.MUTED, f"the user muted {category.name}"))
        # A digest goes to all the user's chats: one narrowed to some of them is sent alone.
        if (
            decision.action == "digest"
            and self._schedule is not None
            and notification.chats == "all"
        ):
            return self._into_digest(parsed, decision)
        if decision.action == "hold":
            return self._hold(envelope, parsed, decision, mute)
        if decision.silent and not notification.silent:
            parsed = parsed.copy_with(silent=True)
        return Plan(parsed, mute=mute)

    def languages(
        self, preferences: Preferences | None, telegram_language: str | None
    ) -> tuple[str | None, ...]:
        """The languages a category's label is looked up in, best first."""
        chosen = preferences.language if preferences else None
        return chosen, telegram_language, self._default_language

    @staticmethod
    def mute_button(
        notification: Notification, category: Category | None, languages: tuple[str | None, ...]
    ) -> Category | None:
        """The category a mute button under `notification` mutes, labelled in the reader's
        language; None when it has none (not asked for, or a category that cannot be muted)."""
        if notification.mute_button and category and category.mutable:
            return replace(category, label=category.label_in(*languages))
        return None

    def category(self, name: str | None) -> Category | None:
        """The declared category of that name (None: none, or not declared)."""
        return self._category(name)

    def _category(self, name: str | None) -> Category | None:
        if name is None:
            return None
        category = self._categories.get(name)
        if category is None and name not in self._undeclared:
            # Once per name: a typo in the web app shows up in the log without flooding it.
            self._undeclared.add(name)
            log.warning("category_undeclared", category=name, declared=sorted(self._categories))
        return category

    def _hold(
        self, envelope: Envelope, parsed: Parsed, decision: Decision, mute: Category | None
    ) -> Plan:
        schedule, until = self._schedule, decision.until
        if until is not None and until - self.clock() < HOLD_AT_LEAST:
            return Plan(parsed, mute=mute)  # they are over
        if schedule is None or until is None:
            return Plan(parsed.copy_with(silent=True), mute=mute)
        # Held ones that end together are released in this key's order: the order they came.
        key = f"quiet:{time.time_ns():020d}:{envelope.user_id}"
        payload = _held_payload(envelope, parsed.notification)

        def hold(pipe: Pipeline) -> None:
            schedule.queue_hold(pipe, key, envelope.rank, until, payload)

        reason = f"quiet hours until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(until))}"
        return Plan(parsed, Result(Outcome.HELD, reason), writes=lambda _result: hold, holds=True)

    def _into_digest(self, parsed: Parsed, decision: Decision) -> Plan:
        user_id, category = parsed.notification.user_id, parsed.notification.category
        assert user_id is not None  # noqa: S101
        assert category is not None  # noqa: S101
        line = digest_line(parsed)
        flush_at = self.clock() + (decision.window or DEFAULT_DIGEST_SECONDS)

        def add(pipe: Pipeline) -> None:
            queue_digest_add(pipe, user_id, category, line, flush_at)

        return Plan(
            parsed,
            Result(Outcome.DIGESTED, f"into the {category} digest"),
            writes=lambda _result: add,
            holds=True,
        )

    def _flush(
        self,
        envelope: Envelope,
        parsed: Parsed,
        preferences: Preferences | None,
        lines: list[str],
        dropped: int = 0,
        *,
        languages: tuple[str | None, ...] = (),
    ) -> Plan:
        """A digest's flush (released at its window's end, or published): its lines as one
        message, saying how many came while it was full (`dropped`, not kept). Sent lines are
        dropped with the outcome; lines left (added meanwhile, over the length limit) get the
        next flush: a second later when some did not fit, a window later otherwise (also after
        a failed send: its dead letter holds only the flush, so the lines wait; the list's cap
        bounds what a chat answering 400 keeps). Lines nobody can get (unlinked, blocked) go."""
        user_id, name = parsed.notification.user_id, parsed.notification.category
        assert user_id is not None  # noqa: S101
        assert name is not None  # noqa: S101
        if not lines:
            if envelope.released:  # its lines went out with one the web app asked for
                return Plan(parsed, Result(Outcome.DUPLICATE, "no digest lines left"))
            return Plan(parsed, Result(Outcome.NOT_FOUND, f"no {name} digest is waiting"))
        category = self._categories.get(name) or Category(name, name)
        window = self._windows.get(name, DEFAULT_DIGEST_SECONDS)
        text, used = digest_text(category.label_in(*languages), lines, dropped)

        def done(sent: int, after: float, said: int = 0) -> Queue:
            return lambda pipe: queue_digest_done(
                pipe, user_id, name, sent, after, dropped_said=said
            )

        decision = decide(
            preferences,
            category,
            rank=envelope.rank,
            digest_windows={},  # a digest is not digested again
            now=self.clock(),
        )
        if decision.action == "mute":  # muted since: its lines go too
            drop = done(len(lines), self.clock(), dropped)
            return Plan(
                parsed,
                Result(Outcome.MUTED, f"the user muted {name}"),
                writes=lambda _result: drop,
            )
        until = decision.until
        if (
            decision.action == "hold"
            and until is not None
            and until - self.clock() >= HOLD_AT_LEAST
        ):
            later = done(0, until)
            return Plan(
                parsed,
                Result(Outcome.HELD, "quiet hours"),
                writes=lambda _result: later,
                holds=True,
            )
        digest = parse_fields(
            {"user_id": user_id, "message": text, "category": name, "silent": decision.silent}
        )

        def writes(result: Result) -> Queue:
            if result.outcome is Outcome.SENT:
                more = used < len(lines)
                return done(used, self.clock() + (1.0 if more else window), dropped)
            if result.outcome in (Outcome.UNLINKED, Outcome.BLOCKED):
                return done(len(lines), self.clock(), dropped)  # nobody to send them to: they go
            return done(0, self.clock() + window)

        return Plan(digest, writes=writes, holds=True)


def _held_payload(envelope: Envelope, notification: Notification) -> str:
    """What a notification held for quiet hours is released as: itself, without the
    deliver_at it was released at already (so it is known as one held for quiet hours) and,
    for a fan-out's recipient, without the fan-out's id and receipts (it goes out as a
    notification of its own; with the id, the first one released would make the others
    duplicates)."""
    excluded = {"deliver_at"}
    if notification.template is not None:  # rendered for this user: rendered again then
        excluded |= {"message", "format", "buttons"}
    if envelope.part is not None:
        excluded |= {"id", "receipts"}
    fields = notification.model_dump(mode="json", exclude_defaults=True, exclude=excluded)
    return json.dumps(fields, ensure_ascii=False)
