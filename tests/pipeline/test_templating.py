"""A templated fan-out renders once per language, not once per recipient, and each recipient
reads it in theirs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis
import redis.asyncio

from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.envelope import PUBSUB, Envelope
from bot.pipeline.fanout import FanOuts
from bot.pipeline.templating import Templating
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.fanouts import FanOutStore
from bot.store.languages import TELEGRAM_LANGUAGE
from bot.store.registry import ChatRegistry
from bot.store.roundtrips import RoundTrips
from bot.templates.files import load_templates
from tests.helpers import redis_outage, store_links
from tests.pipeline.test_dispatcher import RecordingDelivery, settler_on
from tests.waiting import eventually

USERS = 10_000


async def test_a_fan_out_of_10000_in_two_languages_renders_twice(
    redis_client: redis.asyncio.Redis, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "news.toml").write_text(
        '[en]\nmessage = "News #{{ n }}: {{ title }}"\n'
        '[de]\nmessage = "Neuigkeit #{{ n }}: {{ title }}"\n'
    )
    templating = Templating(load_templates(tmp_path), default_language="en", max_chars=4096)
    with redis.Redis.from_url(redis_url) as client:
        store_links(client, {user: 10**6 + user for user in range(1, USERS + 1)})
        # Even users' Telegram apps are German: stored as the bot stores them at a link.
        client.hset(TELEGRAM_LANGUAGE, mapping={str(u): "de-DE" for u in range(2, USERS + 1, 2)})
    trips, outage, stats = RoundTrips(redis_client), redis_outage(redis_client), Stats()
    settler = settler_on(redis_client, trips, outage, stats, DeadLetterStore(redis_client, 100))
    delivery = RecordingDelivery()
    dispatcher = Dispatcher(
        delivery, settler, stats, 256, trips=trips, redis=outage, templating=templating
    )
    fanouts = FanOuts(
        FanOutStore(redis_client, "test"),
        ChatRegistry(redis_client),
        dispatcher.accept,
        receipt_channel="",
        parse=dispatcher.parser.parse,
    )
    dispatcher.start_fan_out = fanouts.start
    payload: dict[str, object] = {"user_ids": list(range(1, USERS + 1)), "id": "news-48"}
    payload |= {"template": "news", "data": {"n": 48, "title": "<b>Bots</b>"}}
    runner = asyncio.create_task(fanouts.run())
    try:
        await dispatcher.accept(Envelope(json.dumps(payload), PUBSUB))
        await eventually(lambda: len(delivery.delivered) == USERS, within=50)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await dispatcher.drain(grace=5)

    assert templating.renders == 2
    texts = {n.user_id: n.message for n in delivery.delivered}
    assert texts[1] == "News #48: <b>Bots</b>"
    assert texts[2] == "Neuigkeit #48: <b>Bots</b>"
    assert sum(text.startswith("Neuigkeit") for text in texts.values() if text) == USERS // 2
