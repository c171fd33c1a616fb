"""A notification's reminders in Redis: their state while they are pending (a hash per id), the
next one held in the schedule as `{"op": "remind"}`, and the acknowledgement that stops them,
made once, whoever makes it (a tap, a reply, a reaction, the web app).

Every write that keeps them going checks, in the same script, that nothing stopped them
meanwhile: a tap that comes while a reminder is on its way, on another instance, cannot bring
them back, nor can an edit's new content be lost to a reminder's step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import Pipeline

from bot.store.client import as_text
from bot.store.counters import STATS
from bot.store.memory import MEMORY_PREFIX
from bot.store.schedule import RANKS, SCHEDULED, SCHEDULED_PAYLOADS

REMIND_PREFIX = "notify:remind:"  # hash per notification id while its reminders are pending
# Per notification id: "<user id>|<Redis ms>" of its last acknowledgement, kept
# MESSAGE_MEMORY_SECONDS: a send that settles after a tap on it starts no reminders.
ACKED_PREFIX = "notify:acked:"
REMIND_KEY = "remind:"  # the schedule's key of a notification's next reminder: "remind:<id>"
ACKNOWLEDGED = "acknowledged"  # the counter (notify:stats) of reminders an acknowledgement stopped
# Kept this much longer than the reminders need (every x (times + 1)): their last step finds
# what it needs however late a busy or restarted bot takes it.
LIFETIME_MARGIN = 24 * 3600

# Acknowledge a notification (a Lua function, part of the scripts below): note when, and when
# its reminders are pending stop them, count it and publish its receipt. 1 when it stopped them.
ACKNOWLEDGE_LUA = """
local function acknowledge(state, mark, set, hash, stats, user, channel, receipt, ttl, members)
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('SET', mark, user .. '|' .. ms, 'EX', ttl)
  if redis.call('HGET', state, 'user') ~= user then return 0 end
  redis.call('DEL', state)
  for _, member in ipairs(members) do
    redis.call('ZREM', set, member)
    redis.call('HDEL', hash, member)
  end
  redis.call('HINCRBY', stats, 'acknowledged', 1)
  if channel ~= '' then redis.call('PUBLISH', channel, receipt) end
  return 1
end
"""

# KEYS: the acknowledge keys (see `Acknowledgement.keys`). ARGV: its args (`.args`).
_ACKNOWLEDGE = (
    ACKNOWLEDGE_LUA
    + """
return acknowledge(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3],
  ARGV[4], {ARGV[5], ARGV[6], ARGV[7]})
"""
)

# Keep a notification's reminders going and hold the next one. The first (its send settling):
# unless it was acknowledged since it was received (ARGV[3], Redis ms). A next one: only while
# they are pending (an acknowledgement, a cancel, a delete removes the state). A reminder's
# messages are remembered with the notification's only while that memory exists (a delete
# forgets it). KEYS: the state, the mark, the schedule's set and hash, the memory, then the
# messages' notes. ARGV: user, "first"|"next", received (ms), sent, every, times, expires,
# payload, the state's lifetime, the member to hold under, due (ms), the step's payload, the
# memory ("" none), the notes' value, then the three members it may be held under.
_CONTINUE = """
local user, first = ARGV[1], ARGV[2] == 'first'
if ARGV[13] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('SET', KEYS[5], ARGV[13], 'EX', ARGV[9])
end
for i = 6, #KEYS do redis.call('SET', KEYS[i], ARGV[14], 'EX', ARGV[9]) end
if first then
  local mark = redis.call('GET', KEYS[2])
  if mark then
    local by, at = string.match(mark, '^(.*)|(%d+)$')
    if by == user and tonumber(at) >= tonumber(ARGV[3]) then return 0 end
  end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'user', user, 'every', ARGV[5], 'times', ARGV[6],
    'expires', ARGV[7], 'payload', ARGV[8])
elseif redis.call('HGET', KEYS[1], 'user') ~= user then
  return 0
end
redis.call('HSET', KEYS[1], 'sent', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[9])
for i = 15, #ARGV do
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
end
redis.call('ZADD', KEYS[3], ARGV[11], ARGV[10])
redis.call('HSET', KEYS[4], ARGV[10], ARGV[12])
return 1
"""

# An edit's content for the reminders to come, if they are still pending.
_EDIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'payload', ARGV[1]) end
"""


@dataclass(frozen=True)
class Reminders:
    """A notification's reminders while they are pending: what to send again (`payload`, the
    notification as first published, without its remind and deliver_at; an edit's content once
    edited), how often, how many were sent, and until when it may be sent (Unix seconds,
    Redis's clock)."""

    user_id: int
    every: int
    times: int
    sent: int
    payload: str
    expires: float | None = None

    @classmethod
    def from_hash(cls, stored: dict[Any, Any] | None) -> Reminders | None:
        """The reminders in the state's HGETALL reply; None when none are pending."""
        if not stored:
            return None
        fields = {as_text(k): as_text(v) for k, v in stored.items()}
        try:
            expires = fields.get("expires", "")
            return cls(
                int(fields["user"]),
                int(fields["every"]),
                int(fields["times"]),
                int(fields["sent"]),
                fields["payload"],
                float(expires) if expires else None,
            )
        except (ValueError, KeyError):
            return None  # written by hand or by another version: as if none were pending


def lifetime(every: int, times: int, memory_seconds: int) -> int:
    """How long a notification with reminders keeps what they need (its state, what was sent,
    its messages' notes): at least MESSAGE_MEMORY_SECONDS, and until its last step is due."""
    return max(memory_seconds, every * (times + 1) + LIFETIME_MARGIN)


def remind_members(notification_id: str) -> list[str]:
    """The schedule's members its next reminder may be held under (one per rank)."""
    return [f"{rank}|{REMIND_KEY}{notification_id}" for rank in RANKS]


@dataclass(frozen=True)
class Acknowledgement:
    """What acknowledging a notification takes (its keys and arguments), for the scripts that
    do it alone or with the event that acknowledges it."""

    notification_id: str
    user_id: int
    how: str  # tap, reply, reaction or op
    receipt_channel: str
    receipt: str  # the receipt's JSON
    mark_seconds: int

    @property
    def keys(self) -> list[str]:
        return [
            REMIND_PREFIX + self.notification_id,
            ACKED_PREFIX + self.notification_id,
            SCHEDULED,
            SCHEDULED_PAYLOADS,
            STATS,
        ]

    @property
    def args(self) -> list[str | int]:
        return [
            str(self.user_id),
            self.receipt_channel,
            self.receipt,
            self.mark_seconds,
            *remind_members(self.notification_id),
        ]


def acknowledgement(
    notification_id: str,
    user_id: int,
    how: str,
    *,
    at: str,
    receipt_channel: str,
    mark_seconds: int,
) -> Acknowledgement:
    receipt = {
        "id": notification_id,
        "user_id": user_id,
        "status": "acknowledged",
        "by": how,
        "at": at,
    }
    return Acknowledgement(
        notification_id,
        user_id,
        how,
        receipt_channel,
        json.dumps(receipt, ensure_ascii=False),
        mark_seconds,
    )


def acknowledge_script() -> str:
    return _ACKNOWLEDGE


def queue_continue(
    pipe: Pipeline,
    notification_id: str,
    reminders: Reminders,
    *,
    first: bool,
    received_ms: int,
    rank: int,
    due: float,
    seconds: int,
    memory: str = "",
    notes: tuple[list[str], str] = ([], ""),
) -> None:
    """Keep `reminders` (the first time: all of it; then how many were sent) and hold the next
    step until `due` (Unix seconds, Redis's clock), unless they were stopped meanwhile (see
    _CONTINUE); remember `memory` (JSON) for the notification while its memory exists; write
    the messages' `notes` (keys, value). The reply is 1 when the next step is held."""
    step = {"op": "remind", "id": notification_id, "user_id": reminders.user_id}
    members = remind_members(notification_id)
    note_keys, note = notes
    pipe.eval(
        _CONTINUE,
        5 + len(note_keys),
        REMIND_PREFIX + notification_id,
        ACKED_PREFIX + notification_id,
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        MEMORY_PREFIX + notification_id,
        *note_keys,
        str(reminders.user_id),
        "first" if first else "next",
        received_ms,
        reminders.sent,
        reminders.every,
        reminders.times,
        "" if reminders.expires is None else repr(reminders.expires),
        reminders.payload,
        seconds,
        members[rank],
        round(due * 1000),
        json.dumps(step),
        memory,
        note,
        *members,
    )


def queue_edit(pipe: Pipeline, notification_id: str, payload: str) -> None:
    """The reminders to come show `payload` (an edit's), if they are still pending."""
    pipe.eval(_EDIT, 1, REMIND_PREFIX + notification_id, payload)


def queue_stop(pipe: Pipeline, notification_id: str) -> None:
    """Stop a notification's reminders (deleted, cancelled, done): the replies are how many
    keys went, all 0 when none were pending."""
    pipe.delete(REMIND_PREFIX + notification_id)
    members = remind_members(notification_id)
    pipe.zrem(SCHEDULED, *members)
    pipe.hdel(SCHEDULED_PAYLOADS, *members)


def queue_read(pipe: Pipeline, notification_id: str) -> None:
    """Queue reading the reminders' state (decode it with Reminders.from_hash)."""
    pipe.hgetall(REMIND_PREFIX + notification_id)
