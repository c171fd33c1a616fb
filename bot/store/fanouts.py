"""Fan-outs in Redis: what each one sends, to whom, how far it got, and who runs it, so that a
restart or another instance carries on where it stopped and nobody gets it twice.

Per fan-out `<id>`: a hash (the payload, counts, cursor, state), the list of recipients, a
bitmap by recipient index (settled: its outcome is counted), and a lease naming the instance
that runs it. The set FANOUTS lists the ones not finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.store.client import as_text

FANOUTS = "notify:fanouts"  # set: ids of fan-outs not finished
FANOUT = "notify:fanout:{id}"  # hash: payload, total, cursor, sent, failed, skipped, state, ...
TO = "notify:fanout:{id}:to"  # list: recipients' user ids, in order
SETTLED = "notify:fanout:{id}:settled"  # bitmap by index: its outcome is counted
LEASE = "notify:fanout:{id}:lease"  # string: the instance running it, expires unless renewed
KEEP_FINISHED = 24 * 3600  # a finished fan-out's hash stays this long (for /broadcast, cancel)
PUSH_CHUNK = 1000

RUNNING, CANCELLING, DONE = "running", "cancelling", "done"

# Cancel a fan-out that is running: it stops handing out recipients and reports.
_CANCEL = """
if redis.call('HGET', KEYS[1], 'state') == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'cancelling')
  return 1
end
return 0
"""
# Count a recipient's outcome: KEYS the fan-out's hash and settled bitmap, ARGV its index and
# the count to add to.
_SETTLE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'done' then return 0 end
if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
end
return 1
"""
# Take the lease if free, already ours (a restart of this instance) or held by one of ARGV[3..]
# (instances found dead); renew it if ours. Returns "" when taken, else the holder.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
local take = holder == false or holder == ARGV[1]
for i = 3, #ARGV do
  if holder == ARGV[i] then take = true end
end
if take then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
return holder
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _keys(job: str) -> dict[str, str]:
    return {
        name: pattern.format(id=job)
        for name, pattern in (
            ("job", FANOUT),
            ("to", TO),
            ("settled", SETTLED),
            ("lease", LEASE),
        )
    }


@dataclass(frozen=True)
class Job:
    """One fan-out as stored."""

    id: str
    payload: str
    total: int
    cursor: int  # every recipient before it is settled
    state: str
    created_at: float
    counts: dict[str, int]


def queue_check(pipe: Pipeline, job: str, index: int) -> None:
    """Queue reading, just before recipient `index`'s send, whether its outcome is counted
    already (a run before a restart settled it) and the fan-out's state (a cancel)."""
    keys = _keys(job)
    pipe.getbit(keys["settled"], index)
    pipe.hget(keys["job"], "state")


def is_cancelled(state: bytes | str | None) -> bool:
    return state is not None and as_text(state) == CANCELLING


def queue_settled(pipe: Pipeline, job: str, index: int, bucket: str) -> None:
    """Queue counting recipient `index`'s outcome as `bucket` (sent, failed or skipped), once
    (two instances settling it after a takeover count it once) and not after the fan-out is
    done (its summary went out; its bitmap is gone and must not come back)."""
    keys = _keys(job)
    pipe.eval(_SETTLE, 2, keys["job"], keys["settled"], index, bucket)


def queue_cancel(pipe: Pipeline, job: str) -> None:
    """Queue cancelling fan-out `job`; the reply is 1 if it was running."""
    pipe.eval(_CANCEL, 1, _keys(job)["job"])


class FanOutStore:
    """Creates fan-outs, hands out their recipients and leases, and finishes them."""

    def __init__(self, client: redis.asyncio.Redis, owner: str) -> None:
        self._redis = client
        self._owner = owner
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)

    async def create(
        self,
        job: str,
        payload: str,
        user_ids: Iterable[int],
        *,
        ack: Callable[[Any], object] | None = None,
        created_at: float | None = None,
    ) -> bool:
        """Store a fan-out of `payload` to `user_ids` and queue `ack` (its source entry's) in
        the same transaction that makes it visible; False (and only the ack) if it exists.
        `created_at` (Unix seconds on Redis's clock; this process's by default) is what its
        recipients' ttl counts from."""
        keys = _keys(job)
        if await self._redis.exists(keys["job"]):
            if ack is not None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    ack(pipe)
                    await pipe.execute()
            return False
        total = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys["to"], keys["settled"])  # a half-made earlier try
            chunk: list[int] = []
            for user_id in user_ids:
                chunk.append(user_id)
                if len(chunk) == PUSH_CHUNK:
                    pipe.rpush(keys["to"], *chunk)
                    total, chunk = total + len(chunk), []
            if chunk:
                pipe.rpush(keys["to"], *chunk)
                total += len(chunk)
            await pipe.execute()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys["job"],
                mapping={
                    "payload": payload,
                    "total": total,
                    "cursor": 0,
                    "sent": 0,
                    "failed": 0,
                    "skipped": 0,
                    "cancelled": 0,
                    "state": RUNNING,
                    "created_at": round(time.time() if created_at is None else created_at, 3),
                },
            )
            pipe.sadd(FANOUTS, job)
            if ack is not None:
                ack(pipe)
            await pipe.execute()
        return True

    async def cancel(self, job: str) -> bool:
        """Cancel fan-out `job`; False if it is not running."""
        return bool(await self._redis.eval(_CANCEL, 1, _keys(job)["job"]))

    async def unfinished(self) -> list[str]:
        return sorted(as_text(job) for job in await self._redis.smembers(FANOUTS))

    async def load(self, job: str) -> Job | None:
        raw = await self._redis.hgetall(_keys(job)["job"])
        if not raw:
            return None
        fields = {as_text(key): as_text(value) for key, value in raw.items()}
        return Job(
            job,
            fields.get("payload", ""),
            int(fields.get("total", 0)),
            int(fields.get("cursor", 0)),
            fields.get("state", DONE),
            float(fields.get("created_at", 0)),
            {name: int(fields.get(name, 0)) for name in ("sent", "failed", "skipped", "cancelled")},
        )

    async def recipients(self, job: str, start: int, count: int) -> list[int]:
        return [
            int(user_id)
            for user_id in await self._redis.lrange(_keys(job)["to"], start, start + count - 1)
        ]

    async def progress(self, job: str, cursor: int) -> str:
        """Save how far it got; return its state (a cancel may have come)."""
        keys = _keys(job)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys["job"], "cursor", cursor)
            pipe.hget(keys["job"], "state")
            _, state = await pipe.execute()
        return as_text(state or DONE)

    async def lease(self, job: str, ttl: float, take_from: Iterable[str] = ()) -> str | None:
        """Take or renew the lease on `job` (only its holder runs it), also from the holders
        named in `take_from`. None when this instance holds it now, else who does."""
        holder = await self._lease(
            keys=[_keys(job)["lease"]], args=[self._owner, int(ttl * 1000), *take_from]
        )
        return as_text(holder) or None

    async def release(self, job: str) -> None:
        await self._release(keys=[_keys(job)["lease"]], args=[self._owner])

    async def finish(self, job: str, receipt_channel: str, cancelled: int) -> dict[str, Any]:
        """Mark `job` done, publish its summary receipt and drop its bookkeeping, atomically:
        the receipt goes out once."""
        keys = _keys(job)
        loaded = await self.load(job)
        counts = dict(loaded.counts) if loaded else {}
        counts["cancelled"] = counts.get("cancelled", 0) + cancelled
        summary: dict[str, Any] = {"id": job, "status": "fanout_done", **counts}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys["job"], mapping={"state": DONE, "cancelled": counts["cancelled"]})
            pipe.expire(keys["job"], KEEP_FINISHED)
            pipe.srem(FANOUTS, job)
            pipe.delete(keys["to"], keys["settled"], keys["lease"])
            if receipt_channel:
                pipe.publish(receipt_channel, json.dumps(summary))
            await pipe.execute()
        return summary
