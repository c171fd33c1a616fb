"""Settling is idempotent: a settle retried after Redis ran it but its answer was lost writes its
counters, dead letter and receipt once."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.notification import PUBSUB, Envelope, Outcome
from bot.pipeline.settle import Settler
from bot.store.counters import STATS, Stats
from bot.store.deadletters import DEAD_LETTERS, DeadLetterStore
from bot.store.roundtrips import RoundTrips
from tests.helpers import next_json, redis_outage


@pytest.fixture
def answers_lost_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The next pipeline Redis runs has its answer lost on the way back, once."""
    real = Pipeline.execute
    lost: list[int] = []

    async def execute(self: Pipeline, raise_on_error: bool = True) -> list[Any]:
        replies = await real(self, raise_on_error=raise_on_error)
        if not lost:
            lost.append(len(replies))
            raise RedisConnectionError("Connection reset by peer (after Redis ran the trip)")
        return replies

    monkeypatch.setattr(Pipeline, "execute", execute)
    return lost


async def test_a_settle_whose_answer_was_lost_counts_dead_letters_and_receipts_once(
    redis_client: redis.asyncio.Redis, channel: str, answers_lost_once: list[int]
) -> None:
    receipts = redis_client.pubsub(ignore_subscribe_messages=True)
    await receipts.subscribe(f"{channel}-receipts")
    settler = Settler(
        RoundTrips(redis_client),
        Stats(),
        DeadLetterStore(redis_client, 100),
        redis=redis_outage(redis_client),
        idempotency_window=60,
        receipt_channel=f"{channel}-receipts",
    )
    payload = json.dumps({"user_id": 7, "message": "hi", "id": "n1"})
    await settler.settle(Envelope(payload, PUBSUB), Outcome.FAILED, "Forbidden", attempts=1)

    assert answers_lost_once, "the first trip's answer was lost"
    assert await redis_client.xlen(DEAD_LETTERS) == 1
    assert int(await redis_client.hget(STATS, "failed") or 0) == 1
    first = await next_json(receipts, within=2)
    assert isinstance(first, dict)
    assert first["status"] == "failed"
    with pytest.raises(TimeoutError):
        await next_json(receipts, within=0.3)  # no second receipt
    await receipts.aclose()
