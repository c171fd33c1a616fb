"""What the chat says back about a notification with an id: replies and reactions become events
on the feedback stream (once each, however often Telegram sends the update), and reminders are
kept until one of them, a tap or the web app acknowledges the notification.

Which notification a message belongs to is looked up from the message (`notify:about:<chat
id>:<message id>`, written when it was sent): a reply or a reaction names only the message,
and a chat's client cannot make it name a message of another chat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.chat_links import CHAT_TO_USER
from bot.store.client import PAYLOAD_FIELD
from bot.store.counters import IN_CHAT, STATS
from bot.store.schedule import RANKS, SCHEDULED, SCHEDULED_PAYLOADS

ABOUT_PREFIX = "notify:about:"  # "<chat id>:<message id>" -> JSON {"id", "user"}, expires
REMIND_PREFIX = "notify:remind:"  # per notification id: JSON of its Reminders, while pending
# Per notification id: the user id, once it was acknowledged (a tap, a reply, a reaction, op
# ack), whether or not reminders were pending: a send settling after a tap starts none.
ACKED_PREFIX = "notify:acked:"
SEEN_PREFIX = "notify:feedback:seen:"  # an update recorded already (Telegram may resend it)
SEEN_MEMORY = 24 * 3600  # seconds: Telegram stops resending an update long before this
REMIND_KEY = "remind:"  # the schedule's key of a notification's next reminder: "remind:<id>"

# Record an event once: the first SET NX for an update adds it and counts it, a repeat nothing.
_RECORD_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
end
return false
"""

# Acknowledge a notification, once: noted (so that a send settling later starts no reminders),
# and when its reminders are pending their state and the next one go, it is counted (unless the
# web app asked: that is counted as its outcome) and its receipt published. KEYS: the state,
# the acknowledged mark, the schedule's set and hash, the counters. ARGV: the user id (as
# stored), how, the receipt channel ("" none), the receipt, the counter, the mark's lifetime,
# then the schedule's members of the reminder.
_ACKNOWLEDGE = """
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[6])
local state = redis.call('GET', KEYS[1])
if not state then return 0 end
if cjson.decode(state)['user'] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 7, #ARGV do
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
end
if ARGV[2] ~= 'op' then redis.call('HINCRBY', KEYS[5], ARGV[5], 1) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""

# Keep a notification's reminders and hold the next one, unless it was acknowledged meanwhile
# or (for a next one, not the first) its reminders stopped (acknowledged, cancelled, deleted):
# a reminder sent while a tap came must not bring them back. KEYS: the state, the mark, the
# schedule's set and hash. ARGV: the state, its lifetime, the user id, "first" or "next", the
# member to hold it under, its due time (Unix ms), its payload, then every member it may have.
_CONTINUE = """
if redis.call('GET', KEYS[2]) == ARGV[3] then return 0 end
if ARGV[4] ~= 'first' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 8, #ARGV do
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
end
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[7])
return 1
"""


@dataclass(frozen=True)
class About:
    """The notification a message of the bot belongs to, and the user it was for."""

    id: str
    user_id: int


@dataclass(frozen=True)
class Reminders:
    """A notification's reminders while they are pending: what to send again (`payload`, the
    notification as first published, without its remind and deliver_at), how often, how many
    were sent, and until when it may be sent at all (Unix seconds, Redis's clock)."""

    user_id: int
    every: int
    times: int
    sent: int
    payload: str
    expires: float | None = None

    def to_json(self) -> str:
        # The user id as a string: Lua's JSON numbers are doubles, 64-bit ids are not.
        return json.dumps(
            {
                "user": str(self.user_id),
                "every": self.every,
                "times": self.times,
                "sent": self.sent,
                "payload": self.payload,
                "expires": self.expires,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Reminders | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(
                int(data["user"]),
                int(data["every"]),
                int(data["times"]),
                int(data["sent"]),
                str(data["payload"]),
                None if data.get("expires") is None else float(data["expires"]),
            )
        except (ValueError, KeyError, TypeError):
            return None  # written by another version, or by hand: as if none were pending


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def remind_members(notification_id: str) -> list[str]:
    """The schedule's members a notification's next reminder may be held under (one per rank)."""
    return [f"{rank}|{REMIND_KEY}{notification_id}" for rank in RANKS]


def queue_about(
    pipe: Pipeline, messages: list[tuple[int, int]], about: About, seconds: int
) -> None:
    """`messages` ((chat id, message id) each) belong to the notification `about`."""
    value = json.dumps({"id": about.id, "user": str(about.user_id)}, ensure_ascii=False)
    for chat_id, message_id in messages:
        pipe.set(f"{ABOUT_PREFIX}{chat_id}:{message_id}", value, ex=seconds)


def queue_reminders(
    pipe: Pipeline,
    notification_id: str,
    reminders: Reminders,
    *,
    rank: int,
    due: float,
    seconds: int,
    first: bool = False,
) -> None:
    """Keep `reminders` and hold the next one (op remind) in the schedule until `due` (Unix
    seconds, Redis's clock), unless it was acknowledged meanwhile or, after the first, they
    were stopped; the reply is 1 when held, else 0."""
    step = {"op": "remind", "id": notification_id, "user_id": reminders.user_id}
    members = remind_members(notification_id)
    pipe.eval(
        _CONTINUE,
        4,
        REMIND_PREFIX + notification_id,
        ACKED_PREFIX + notification_id,
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        reminders.to_json(),
        seconds,
        str(reminders.user_id),
        "first" if first else "next",
        members[rank],
        round(due * 1000),
        json.dumps(step),
        *members,
    )


def queue_reminders_edit(pipe: Pipeline, notification_id: str, reminders: Reminders) -> None:
    """Replace the pending reminders' state (an edit's content), if they are still pending."""
    pipe.set(REMIND_PREFIX + notification_id, reminders.to_json(), xx=True, keepttl=True)


def queue_stop_reminders(pipe: Pipeline, notification_id: str) -> None:
    """Stop a notification's reminders (deleted, cancelled, done): the reply is how many keys
    went, 0 when none were pending."""
    pipe.delete(REMIND_PREFIX + notification_id)
    members = remind_members(notification_id)
    pipe.zrem(SCHEDULED, *members)
    pipe.hdel(SCHEDULED_PAYLOADS, *members)


def queue_reminders_read(pipe: Pipeline, notification_id: str) -> None:
    pipe.get(REMIND_PREFIX + notification_id)


class FeedbackStore:
    """Records replies and reactions on the feedback stream (`stream`, capped at about
    `maxlen`) and acknowledges notifications with pending reminders (receipts to
    `receipt_channel`, "" none)."""

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
        self._memory_seconds = memory_seconds  # how long an acknowledgement is kept
        self._stream = stream
        self._maxlen = maxlen
        self._receipts = receipt_channel
        self._record_once = client.register_script(_RECORD_ONCE)
        self._acknowledge = client.register_script(_ACKNOWLEDGE)

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

    async def record(self, event: dict[str, Any], once_key: str, counter: str) -> bool:
        """Add `event` to the feedback stream unless `once_key` was recorded before (a
        repeated update); count it as `counter`. True when added."""
        added = await self._record_once(
            keys=[SEEN_PREFIX + once_key, self._stream, STATS],
            args=[
                SEEN_MEMORY,
                self._maxlen,
                PAYLOAD_FIELD,
                json.dumps(event, ensure_ascii=False),
                counter,
            ],
        )
        return bool(added)

    def queue_add(self, pipe: Pipeline, event: dict[str, Any]) -> None:
        """Queue adding an event made once by construction (a reminder nobody acknowledged:
        in the round trip that settles its last step)."""
        pipe.xadd(
            self._stream,
            {PAYLOAD_FIELD: json.dumps(event, ensure_ascii=False)},
            maxlen=self._maxlen,
            approximate=True,
        )

    async def acknowledge(self, notification_id: str, user_id: int, how: str) -> bool:
        """Stop the pending reminders of `notification_id` (for `user_id`): True the first
        time, False when none were pending (never any, done, or acknowledged before)."""
        receipt = {
            "id": notification_id,
            "user_id": user_id,
            "status": "acknowledged",
            "by": how,
            "at": now_iso(),
        }
        done = await self._acknowledge(
            keys=[
                REMIND_PREFIX + notification_id,
                ACKED_PREFIX + notification_id,
                SCHEDULED,
                SCHEDULED_PAYLOADS,
                STATS,
            ],
            args=[
                str(user_id),
                how,
                self._receipts,
                json.dumps(receipt, ensure_ascii=False),
                IN_CHAT,
                self._memory_seconds,
                *remind_members(notification_id),
            ],
        )
        return bool(done)


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
