"""What a lane reads before a send: a plan of Redis commands per kind of notification, each
paired with the decoder of its replies, run in one shared round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.asyncio.client import Pipeline

from bot.loops.reconnect import Outage
from bot.notification.outcomes import Outcome
from bot.pipeline.envelope import Envelope
from bot.pipeline.results import Result
from bot.pipeline.settle import DELIVERED_PREFIX
from bot.pipeline.templating import actions_of
from bot.preferences import Preferences
from bot.store import fanouts
from bot.store.actions import ActionStore, new_key
from bot.store.chats import LinkedChat, decode_chats
from bot.store.digests import queue_digest_read
from bot.store.languages import language_from, queue_language_read
from bot.store.memory import Memory, queue_recall, recalled
from bot.store.preferences import PREFERENCES, preferences_from
from bot.store.registry import ChatRegistry
from bot.store.reminders import Reminders
from bot.store.reminders import queue_read as queue_reminders_read
from bot.store.roundtrips import RoundTrips


@dataclass(slots=True)
class BeforeSend:
    """What is known of a notification just before its send, as the plan's decoders read it."""

    chats: tuple[LinkedChat, ...] = ()  # the chats linked to the user, () if none
    duplicate: bool = False  # its id was delivered within the idempotency window
    memory: tuple[Memory, ...] | None = None  # what was sent for its id (edit, delete), by chat
    counted: bool = False  # a fan-out recipient settled before a restart: not sent again
    cancelled: bool = False  # a fan-out recipient whose fan-out was cancelled
    preferences: Preferences | None = None  # the user's; None: nothing chosen
    digest: list[str] | None = None  # a digest's flush: the lines waiting
    digest_dropped: int = 0  # ... and how many more came while it was full
    telegram_language: str | None = None  # the user's Telegram language (templates, labels)
    reminders: Reminders | None = None  # an edit's or a delete's id: its pending reminders

    def skip(self) -> Result | None:
        """Why it must not be sent, as its outcome; None when it may be."""
        if self.cancelled:
            return Result(Outcome.CANCELLED, "its fan-out was cancelled")
        if self.counted:
            return Result(Outcome.DUPLICATE, "settled before a restart: not sent again")
        if self.duplicate:
            return Result(Outcome.DUPLICATE, "id already delivered")
        return None


class Read(NamedTuple):
    """One thing to know before the send: `queue` queues its commands for a user's envelope
    (`replies` of them), and `decode` puts their replies, and only theirs, into BeforeSend."""

    queue: Callable[[Pipeline, int, Envelope], object]
    replies: int
    decode: Callable[[BeforeSend, Sequence[Any]], None]


class ReadPlan(NamedTuple):
    """The reads of one kind of notification, in the order they are queued."""

    reads: tuple[Read, ...]
    replies: int  # all of theirs: what the round trip answers

    @classmethod
    def of(cls, *reads: Read) -> ReadPlan:
        return cls(reads, sum(read.replies for read in reads))


def _queue_chats(pipe: Pipeline, user_id: int, _envelope: Envelope) -> None:
    ChatRegistry.queue_chats_for(pipe, user_id)


def _chats(before: BeforeSend, replies: Sequence[Any]) -> None:
    (stored,) = replies
    before.chats = decode_chats(stored)


def _queue_preferences(pipe: Pipeline, user_id: int, _envelope: Envelope) -> None:
    pipe.hget(PREFERENCES, str(user_id))


def _preferences(before: BeforeSend, replies: Sequence[Any]) -> None:
    (stored,) = replies
    before.preferences = preferences_from(stored)


def _queue_digest(pipe: Pipeline, user_id: int, envelope: Envelope) -> None:
    category = envelope.notification.category if envelope.notification else None
    assert category is not None  # a digest's flush names its category  # noqa: S101
    queue_digest_read(pipe, user_id, category)


def _digest(before: BeforeSend, replies: Sequence[Any]) -> None:
    lines, dropped = replies
    before.digest = [line.decode() if isinstance(line, bytes) else line for line in lines]
    before.digest_dropped = int(dropped or 0)


def _queue_fan_out(pipe: Pipeline, _user_id: int, envelope: Envelope) -> None:
    part = envelope.part
    assert part is not None  # noqa: S101
    fanouts.queue_check(pipe, part.job, part.index)


def _fan_out(before: BeforeSend, replies: Sequence[Any]) -> None:
    settled, state = replies
    before.counted = bool(settled)
    before.cancelled = fanouts.is_cancelled(state)


def _queue_delivered(pipe: Pipeline, _user_id: int, envelope: Envelope) -> None:
    pipe.exists(f"{DELIVERED_PREFIX}{envelope.id}")


def _delivered(before: BeforeSend, replies: Sequence[Any]) -> None:
    (marked,) = replies
    before.duplicate = bool(marked)


def _queue_recall(pipe: Pipeline, _user_id: int, envelope: Envelope) -> None:
    assert envelope.id is not None  # an edit's or a delete's id  # noqa: S101
    queue_recall(pipe, envelope.id)


def _recall(before: BeforeSend, replies: Sequence[Any]) -> None:
    (remembered,) = replies
    before.memory = recalled(remembered)


def _queue_reminders(pipe: Pipeline, _user_id: int, envelope: Envelope) -> None:
    assert envelope.id is not None  # an edit's or a delete's id  # noqa: S101
    queue_reminders_read(pipe, envelope.id)


def _reminders(before: BeforeSend, replies: Sequence[Any]) -> None:
    (stored,) = replies
    before.reminders = Reminders.from_hash(stored)


def _queue_language(pipe: Pipeline, user_id: int, _envelope: Envelope) -> None:
    queue_language_read(pipe, user_id)


def _language(before: BeforeSend, replies: Sequence[Any]) -> None:
    (stored,) = replies
    before.telegram_language = language_from(stored)


def _written(_before: BeforeSend, _replies: Sequence[Any]) -> None:
    """A write that goes with the reads: its reply ("OK") tells nothing."""


CHATS = Read(_queue_chats, 1, _chats)
USER_PREFERENCES = Read(_queue_preferences, 1, _preferences)  # with the chats: one trip
DIGEST = Read(_queue_digest, 2, _digest)  # the lines waiting, how many were not kept
FAN_OUT = Read(_queue_fan_out, 2, _fan_out)  # counted before a restart? the fan-out's state
DELIVERED = Read(_queue_delivered, 1, _delivered)  # a send's id: delivered already?
RECALL = Read(_queue_recall, 1, _recall)  # an edit's or a delete's id: what was sent for it
REMINDERS = Read(_queue_reminders, 1, _reminders)  # ... and its reminders: an edit changes them
LANGUAGE = Read(_queue_language, 1, _language)  # Telegram's language: templates, labels

# By what a notification is: its kind's own read after those every one makes.
KINDS = {
    "plain": (),
    "digest": (DIGEST,),
    "fan_out": (FAN_OUT,),
    "send": (DELIVERED,),
    "change": (RECALL, REMINDERS),
}


class Reader:
    """Reads, before each send, the user's chats and preferences and what the notification's
    kind needs (a digest's lines, a fan-out recipient's state, whether its id was delivered,
    what was sent for it), and in the same round trip stores what its action buttons report
    (`actions`). One round trip, shared with the other lanes' (`trips`); while Redis is down
    it waits (`redis`), as nothing was sent yet."""

    def __init__(self, trips: RoundTrips, redis: Outage, actions: ActionStore | None) -> None:
        self._trips = trips
        self._redis = redis
        self._actions = actions
        issue: tuple[Read, ...] = ()
        if actions is not None:

            def queue_issue(pipe: Pipeline, _user_id: int, envelope: Envelope) -> None:
                assert envelope.action_key is not None  # noqa: S101
                assert envelope.parsed is not None  # noqa: S101
                actions.queue_issue(
                    pipe,
                    envelope.action_key,
                    envelope.parsed.notification,
                    actions_of(envelope.parsed),
                )

            issue = (Read(queue_issue, 1, _written),)
        # By (kind, issuing an action key, templated): each plan made once, here.
        self._plans = {
            (kind, issuing, templated): ReadPlan.of(
                CHATS,
                USER_PREFERENCES,
                *reads,
                *((LANGUAGE,) if templated else ()),
                *(issue if issuing else ()),
            )
            for kind, reads in KINDS.items()
            for issuing in (False, True)
            for templated in (False, True)
        }

    async def before_send(self, envelope: Envelope) -> BeforeSend:
        """What is known of `envelope`'s notification before its send (see BeforeSend)."""
        notification = envelope.notification
        assert notification is not None  # only parsed envelopes are delivered  # noqa: S101
        user_id, op = notification.user_id, notification.op
        assert user_id is not None  # only one user's notifications have a lane  # noqa: S101
        parsed = envelope.parsed
        assert parsed is not None  # noqa: S101
        if self._actions is not None and envelope.action_key is None and actions_of(parsed):
            envelope.action_key = new_key()
        if op == "digest":
            kind = "digest"
        elif envelope.part is not None:
            kind = "fan_out"
        elif notification.id is not None:
            kind = "send" if op == "send" else "change"
        else:
            kind = "plain"
        # Telegram's language: for a template, and for a category's label (a mute button, a
        # digest's title); a plain notification reads nothing more.
        wants_language = (
            parsed.rendering is not None
            or op == "digest"
            or (notification.mute_button and notification.category is not None)
        )
        plan = self._plans[kind, envelope.action_key is not None, wants_language]

        def queue(pipe: Pipeline) -> None:
            for read in plan.reads:
                read.queue(pipe, user_id, envelope)

        replies = await self._redis.until_up(lambda: self._trips.run(queue))
        if len(replies) != plan.replies:  # a store's queue_* changed: never decode askew
            raise RuntimeError(f"{plan.replies} replies expected, {len(replies)} came")
        before = BeforeSend()
        start = 0
        for read in plan.reads:
            end = start + read.replies
            read.decode(before, replies[start:end])
            start = end
        return before
