"""Notifications held until their deliver_at: a sorted set of keys by due time and a hash of
their payloads. When due, a Lua script moves each onto the notification stream of its priority,
atomically, so exactly one instance releases it and a crash at any point loses nothing."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.client import PAYLOAD_FIELD, as_text

SCHEDULED = "notify:scheduled"  # sorted set: "<rank>|<key>" -> due time (Unix ms)
SCHEDULED_PAYLOADS = "notify:scheduled:payloads"  # hash: "<rank>|<key>" -> payload
RELEASED_FIELD = "released"  # on a released stream entry: deliver now, whatever the clock says
RANKS = (0, 1, 2)

# KEYS: the set, the hash, the streams for ranks 0, 1, 2. ARGV: how many to move at most, the
# streams' MAXLEN. Redis's own clock decides what is due, so instances whose clocks differ
# agree. Returns {moved, the next due time or -1, Redis's time} (Unix ms).
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local payload = redis.call('HGET', KEYS[2], member)
  if payload then
    local stream = KEYS[3 + tonumber(string.sub(member, 1, 1))]
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*', ARGV[3], payload, ARGV[4], '1')
  end
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if next[2] then next_due = tonumber(next[2]) end
return {#due, next_due, now}
"""


@dataclass(frozen=True)
class Held:
    """One scheduled notification, for /scheduled."""

    key: str
    due: float  # Unix seconds
    payload: str


@dataclass(frozen=True)
class Released:
    moved: int
    next_due: float | None  # Unix seconds of the next one, None when none is held
    now: float  # Redis's time, Unix seconds


def _members(key: str) -> list[str]:
    return [f"{rank}|{key}" for rank in RANKS]


class ScheduleStore:
    """Holds notifications (`queue_hold`, in the settling round trip) and releases them when
    due onto `streams` (one per rank: high, normal, bulk)."""

    def __init__(self, client: redis.asyncio.Redis, streams: tuple[str, str, str], maxlen: int):
        self._redis = client
        self._streams = streams
        self._maxlen = maxlen
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def queue_hold(pipe: Pipeline, key: str, rank: int, due: float, payload: bytes | str) -> None:
        """Hold `payload` until `due` (Unix seconds); the same key again replaces it."""
        pipe.zrem(SCHEDULED, *_members(key))
        pipe.hdel(SCHEDULED_PAYLOADS, *_members(key))
        member = f"{rank}|{key}"
        pipe.zadd(SCHEDULED, {member: round(due * 1000)})
        pipe.hset(SCHEDULED_PAYLOADS, member, payload)

    @staticmethod
    def queue_cancel(pipe: Pipeline, key: str) -> None:
        """Queue removing the notification held under `key`; the reply is how many went."""
        pipe.zrem(SCHEDULED, *_members(key))
        pipe.hdel(SCHEDULED_PAYLOADS, *_members(key))

    async def release_due(self, limit: int) -> Released:
        """Move up to `limit` notifications that are due onto their streams."""
        keys = [SCHEDULED, SCHEDULED_PAYLOADS, *self._streams]
        args: list[str | int] = [limit, self._maxlen, PAYLOAD_FIELD, RELEASED_FIELD]
        moved, next_due, now = await self._release(keys=keys, args=args)
        return Released(
            int(moved), None if int(next_due) < 0 else int(next_due) / 1000, int(now) / 1000
        )

    async def held(self, limit: int) -> tuple[int, list[Held]]:
        """How many are held, and the first `limit` of them by due time."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(SCHEDULED)
            pipe.zrange(SCHEDULED, 0, limit - 1, withscores=True)
            total, first = await pipe.execute()
        if not first:
            return int(total), []
        members = [as_text(member) for member, _ in first]
        payloads = await self._redis.hmget(SCHEDULED_PAYLOADS, members)
        return int(total), [
            Held(member.split("|", 1)[1], score / 1000, as_text(payload or b""))
            for member, (_, score), payload in zip(members, first, payloads, strict=True)
        ]
