"""Link events: one stream entry per chat linked to or unlinked from a user, queued on the
transaction that makes the registry change it reports, so an event is neither lost nor
invented. The web app reads them (Publisher.link_events) to show "Telegram connected" live."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis.client
from redis.asyncio.client import Pipeline

from bot.store.client import add_to_stream
from bot.store.plans import Writes

DEFAULT_STREAM = "notification:links"
DEFAULT_MAXLEN = 100_000  # the publishers' and the bot's default STREAM_MAXLEN

LinkType = Literal["linked", "unlinked"]
# Why, one word each (docs: guides/web-app.md, "Link events"). relinked: the user lost the chat
# to another account's deep link; a user who links a second chat stays linked and gets
# `linked`/start.
# removed: the bot was removed from the group or channel (or the private chat's user blocked
# it: blocked, as a 403 says).
Reason = Literal["start", "stop", "blocked", "admin", "web_app", "relinked", "removed"]


def encode(
    kind: LinkType, user_id: int, reason: Reason, *, chat: str | None, remaining: int | None
) -> str:
    """The event's JSON: `at` in the format of the actions stream's events (ISO 8601, ms, UTC);
    `chat` the kind of chat (private, group, channel), `remaining` how many chats the user has
    after it."""
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    event: dict[str, object] = {"type": kind, "user_id": user_id, "reason": reason, "at": at}
    if chat is not None:
        event.update(chat=chat, chats=remaining)
    return json.dumps(event)


@dataclass(frozen=True)
class LinkEvents:
    """Where link events go: `stream`, capped at about `maxlen` entries (XADD MAXLEN ~, as the
    actions stream is)."""

    stream: str = DEFAULT_STREAM
    maxlen: int = DEFAULT_MAXLEN

    def queue(
        self,
        pipe: Pipeline | redis.client.Pipeline | Writes,
        kind: LinkType,
        user_id: int,
        reason: Reason,
        *,
        chat: str | None = None,
        remaining: int | None = None,
    ) -> None:
        """Queue the event on `pipe` (sync or async), inside the MULTI of the change."""
        event = encode(kind, user_id, reason, chat=chat, remaining=remaining)
        add_to_stream(pipe, self.stream, event, self.maxlen)
