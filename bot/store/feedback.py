"""What the chat says back about a notification with an id: replies and reactions become events
on the feedback stream, once each however often Telegram sends the update, and acknowledge the
notification in the same script (bot.store.reminders).

Which notification a message belongs to is looked up from the message (`notify:about:<chat
id>:<message id>`, written when it was sent): a reply or a reaction names only the message,
and a chat's client cannot make it name a message of another chat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.chat_links import CHAT_TO_USER
from bot.store.client import PAYLOAD_FIELD
from bot.store.clock import now_iso
from bot.store.counters import STATS
from bot.store.reminders import (
    ACKNOWLEDGE_LUA,
    Acknowledgement,
    acknowledge_script,
    acknowledgement,
)

ABOUT_PREFIX = "notify:about:"  # "<chat id>:<message id>" -> JSON {"id", "user"}, expires
SEEN_PREFIX = "notify:feedback:seen:"  # an update recorded already (Telegram may resend it)
SEEN_MEMORY = 24 * 3600  # seconds: Telegram stops resending an update long before this

# Record an event once: the first SET NX for an update adds it and counts it, and (ARGV[6] is
# "1") acknowledges its notification; a repeat does nothing. KEYS: the once key, the stream,
# the counters, then the acknowledgement's. Returns {added, acknowledged}.
_RECORD_ONCE = (
    ACKNOWLEDGE_LUA
    + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return {0, 0} end
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
if ARGV[6] ~= '1' then return {1, 0} end
return {1, acknowledge(KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[7], ARGV[8], ARGV[9],
  ARGV[10], {ARGV[11], ARGV[12], ARGV[13]})}
"""
)


@dataclass(frozen=True)
class About:
    """The notification a message of the bot belongs to, and the user it was for."""

    id: str
    user_id: int


def note_keys(messages: list[tuple[int, int]]) -> list[str]:
    return [f"{ABOUT_PREFIX}{chat_id}:{message_id}" for chat_id, message_id in messages]


def note_value(about: About) -> str:
    return json.dumps({"id": about.id, "user": str(about.user_id)}, ensure_ascii=False)


def queue_about(
    pipe: Pipeline, messages: list[tuple[int, int]], about: About, seconds: int
) -> None:
    """`messages` ((chat id, message id) each) belong to the notification `about`."""
    value = note_value(about)
    for key in note_keys(messages):
        pipe.set(key, value, ex=seconds)


@dataclass(frozen=True)
class Recorded:
    added: bool  # the event is on the stream (False: Telegram sent the update again)
    acknowledged: bool  # ... and it stopped the notification's pending reminders


class FeedbackStore:
    """Records replies and reactions on the feedback stream (`stream`, capped at about
    `maxlen`), and acknowledges notifications (receipts to `receipt_channel`, "" none; the
    acknowledgement kept `memory_seconds`)."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        stream: str,
        maxlen: int,
        receipt_channel: str = "",
        memory_seconds: int = 7 * 24 * 3600,
    ) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen
        self._receipts = receipt_channel
        self._memory_seconds = memory_seconds
        self._record_once = client.register_script(_RECORD_ONCE)
        self._acknowledge = client.register_script(acknowledge_script())

    def acknowledgement(self, about: About, how: str) -> Acknowledgement:
        """What acknowledging `about` takes (for a script that records its cause too)."""
        return acknowledgement(
            about.id,
            about.user_id,
            how,
            at=now_iso(),
            receipt_channel=self._receipts,
            mark_seconds=self._memory_seconds,
        )

    async def about(self, chat_id: int, message_id: int) -> About | None:
        """The notification `message_id` in `chat_id` belongs to, if the chat is linked to the
        user it was for; None for any other message, or a chat linked to someone else now."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.get(f"{ABOUT_PREFIX}{chat_id}:{message_id}")
            pipe.hget(CHAT_TO_USER, str(chat_id))
            stored, linked = await pipe.execute()
        if stored is None or linked is None:
            return None
        try:
            data = json.loads(stored)
            about = About(str(data["id"]), int(data["user"]))
        except (ValueError, KeyError, TypeError):
            return None
        return about if about.user_id == int(linked) else None

    async def record(
        self,
        event: dict[str, Any],
        once_key: str,
        counter: str,
        acknowledges: Acknowledgement | None = None,
    ) -> Recorded:
        """Add `event` to the feedback stream unless `once_key` was recorded before (a
        repeated update), count it as `counter` and, in the same script, make the
        acknowledgement it carries."""
        ack_keys: list[str] = acknowledges.keys if acknowledges else []
        ack_args: list[str | int] = ["1", *acknowledges.args] if acknowledges else ["0"]
        added, acknowledged = await self._record_once(
            keys=[SEEN_PREFIX + once_key, self._stream, STATS, *ack_keys],
            args=[
                SEEN_MEMORY,
                self._maxlen,
                PAYLOAD_FIELD,
                json.dumps(event, ensure_ascii=False),
                counter,
                *ack_args,
            ],
        )
        return Recorded(bool(added), bool(acknowledged))

    async def acknowledge(self, about: About, how: str) -> bool:
        """Acknowledge the notification: True when it stopped its pending reminders (False:
        none were pending: never any, done, or acknowledged before)."""
        ack = self.acknowledgement(about, how)
        return bool(await self._acknowledge(keys=ack.keys, args=ack.args))

    def queue_add(self, pipe: Pipeline, event: dict[str, Any], counter: str) -> None:
        """Queue adding an event made once by construction (reminders that end unacknowledged:
        in the round trip that settles their last step), and counting it."""
        pipe.xadd(
            self._stream,
            {PAYLOAD_FIELD: json.dumps(event, ensure_ascii=False)},
            maxlen=self._maxlen,
            approximate=True,
        )
        pipe.hincrby(STATS, counter, 1)


def event_base(kind: str, about: About, chat: str, chat_id: int, message_id: int) -> dict[str, Any]:
    """The fields every chat event has, as the actions stream's events name them."""
    return {
        "type": kind,
        "id": about.id,
        "user_id": about.user_id,
        "chat": chat,
        "chat_id": chat_id,
        "message_id": message_id,
        "at": now_iso(),
    }
