"""A payload on its way from a source to its outcome, with what is known about it so far."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed
from bot.notification.schema import PRIORITY_RANK, Notification

# Where an envelope came from.
PUBSUB, STREAM, ADMIN = "pubsub", "stream", "admin"


@dataclass
class Envelope:
    """A raw payload from one source, with what is known about it so far."""

    payload: bytes | str
    source: str  # PUBSUB, STREAM or ADMIN
    # Queues the source's acknowledgement (XACK) on the settling Redis pipeline.
    ack: Callable[[Any], object] | None = None
    release: Callable[[], None] | None = None  # called when done with, settled or not
    parsed: Parsed | None = None  # its notification and message, once parsed
    received_at: float = field(default_factory=time.time)
    # Resolved with the outcome once settled, for whoever waits on it (an admin's /send).
    settled: asyncio.Future[Outcome] | None = None
    # Where its action buttons' taps are looked up: made before its first send.
    action_key: str | None = None
    # When the web app published it (a stream entry's id says; else when it was received):
    # what `ttl` counts from.
    published_at: float | None = None
    released: bool = False  # a scheduled notification whose deliver_at has come
    part: FanOutPart | None = None  # one recipient of a fan-out
    language: str | None = None  # a template's: the language it was rendered in

    # The rank of the stream it was read from: its priority when the payload names none (a
    # plain XADD to the high stream is high).
    stream_rank: int | None = None

    @property
    def notification(self) -> Notification | None:
        """What the payload asks for, once parsed."""
        return None if self.parsed is None else self.parsed.notification

    @property
    def rank(self) -> int:
        notification = self.notification
        if notification is None:
            return PRIORITY_RANK["normal"]
        if notification.priority is None and self.stream_rank is not None:
            return self.stream_rank
        return notification.rank

    @property
    def expires(self) -> float | None:
        if self.notification is None:
            return None
        published = self.received_at if self.published_at is None else self.published_at
        return self.notification.expires(published)

    @property
    def user_id(self) -> int | None:
        return self.notification.user_id if self.notification else None

    @property
    def id(self) -> str | None:
        return self.notification.id if self.notification else None


@dataclass
class FanOutPart:
    """Which fan-out a recipient's notification belongs to, and its place in the list."""

    job: str  # the fan-out's id
    index: int
    counted: bool = False  # its outcome was counted before a restart: not again
