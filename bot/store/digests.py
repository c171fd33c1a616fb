"""Digests waiting for their window to end, in Redis. A digest is a list of lines per user and
category; its first line also holds a flush (`{"op": "digest", ...}`) in the schedule
(bot.store.schedule) for the window's end, so a restart or another instance sends it, once."""

from __future__ import annotations

import json

from redis.asyncio.client import Pipeline

from bot.store.schedule import SCHEDULED, SCHEDULED_PAYLOADS

DIGEST = "notify:digest:{user}:{category}"  # list: the lines waiting, oldest first
# string: lines that came while the list was full, counted for the next flush to say so
DIGEST_DROPPED = "notify:digest-dropped:{user}:{category}"
# Lines a digest keeps: 20,000 flushed as ~1,000 messages at a chat's 1 a second (17 minutes)
# and every flush read them all. At most about 10 messages now (lines are up to 200 characters),
# and per user this times the digest categories.
DIGEST_MAX_LINES = 200
DIGEST_RANK = 1  # a digest goes out as a normal notification

# KEYS: the digest list, the schedule's set and hash. ARGV: the line, the flush's member, its
# due time (ms), its payload. Every line makes sure a flush is scheduled (NX: one already
# scheduled keeps its time), so lines are never left without one (a flush that crashed).
# A full list counts the line in KEYS[4] instead (ARGV[5]: the most lines kept).
_ADD = """
local n = -1
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[5]) then
  n = redis.call('RPUSH', KEYS[1], ARGV[1])
else
  redis.call('INCR', KEYS[4])
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[2])
redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[4])
return n
"""
# After a flush: drop the ARGV[1] lines it sent (0 when it failed: they wait for the next) and
# ARGV[5] from the count of lines not kept (the flush said so); if lines are left (added
# meanwhile, or unsent), make sure the next flush comes at ARGV[3] or earlier (a flush asked
# for early must not leave the rest for the window's end; compared by hand: ZADD LT needs
# Redis 6.2); if none are, drop a flush still scheduled (the web app asked for this one
# early). Same KEYS and ARGV[2..4] as _ADD.
_DONE = """
if tonumber(ARGV[1]) > 0 then redis.call('LTRIM', KEYS[1], ARGV[1], -1) end
if tonumber(ARGV[5]) > 0 and redis.call('DECRBY', KEYS[4], ARGV[5]) <= 0 then
  redis.call('DEL', KEYS[4])
end
if redis.call('LLEN', KEYS[1]) > 0 then
  local due = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if (not due) or tonumber(ARGV[3]) < tonumber(due) then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  end
  redis.call('HSETNX', KEYS[3], ARGV[2], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
"""


def digest_key(user_id: int, category: str) -> str:
    return DIGEST.format(user=user_id, category=category)


def dropped_key(user_id: int, category: str) -> str:
    return DIGEST_DROPPED.format(user=user_id, category=category)


def flush_payload(user_id: int, category: str) -> str:
    return json.dumps({"op": "digest", "user_id": user_id, "category": category})


def _flush_member(user_id: int, category: str) -> str:
    return f"{DIGEST_RANK}|digest:{user_id}:{category}"


def queue_digest_add(
    pipe: Pipeline, user_id: int, category: str, line: str, flush_at: float
) -> None:
    """Queue adding `line` to the user's digest of `category`, flushed at `flush_at` (Unix
    seconds) unless a flush is scheduled already."""
    pipe.eval(
        _ADD,
        4,
        digest_key(user_id, category),
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        dropped_key(user_id, category),
        line,
        _flush_member(user_id, category),
        round(flush_at * 1000),
        flush_payload(user_id, category),
        DIGEST_MAX_LINES,
    )


def queue_digest_read(pipe: Pipeline, user_id: int, category: str) -> None:
    """Two replies: the lines (at most DIGEST_MAX_LINES), and how many more were not kept."""
    pipe.lrange(digest_key(user_id, category), 0, DIGEST_MAX_LINES - 1)
    pipe.get(dropped_key(user_id, category))


def queue_digest_done(
    pipe: Pipeline,
    user_id: int,
    category: str,
    sent: int,
    next_flush_at: float,
    *,
    dropped_said: int = 0,
) -> None:
    """Queue dropping the `sent` lines a flush delivered (and `dropped_said` from the count of
    lines not kept, which it reported), and the next flush if any are left."""
    pipe.eval(
        _DONE,
        4,
        digest_key(user_id, category),
        SCHEDULED,
        SCHEDULED_PAYLOADS,
        dropped_key(user_id, category),
        sent,
        _flush_member(user_id, category),
        round(next_flush_at * 1000),
        flush_payload(user_id, category),
        dropped_said,
    )
