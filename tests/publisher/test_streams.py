"""The durable way: publish, enqueue, edit, delete, cancel and fan_out on their priority stream."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button, Published, Publisher
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.helpers import link_directly, wait_sent
from tests.publisher.calls import call_both, stored


def test_sync_enqueue_adds_a_stream_entry(redis_url: str, channel: str) -> None:
    publisher = Publisher.from_url(redis_url, stream=f"{channel}-stream", stream_maxlen=5000)
    try:
        publisher.client.delete(publisher.stream)
        entry_id = publisher.enqueue(42, "durable", id="k-1")
        entries: Any = publisher.client.xrange(publisher.stream)
        [(stored_id, fields)] = entries
        assert stored_id.decode() == entry_id
        assert json.loads(fields[b"payload"]) == {"user_id": 42, "message": "durable", "id": "k-1"}
        with pytest.raises(ValueError, match="id"):
            publisher.enqueue(42, "x", id="")
    finally:
        publisher.client.delete(publisher.stream)
        publisher.client.close()


TRACK = [[Button.url("Track parcel", "https://shop.example/t/17")]]
TRACK_JSON = [[{"text": "Track parcel", "url": "https://shop.example/t/17"}]]


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "priority", "payload"),
    [
        pytest.param(
            "enqueue", (42, "hi"), {}, "normal", {"user_id": 42, "message": "hi"}, id="enqueue"
        ),
        pytest.param(
            "enqueue",
            (42, "Code 1234"),
            {"priority": "high", "ttl": 300},
            "high",
            {"user_id": 42, "message": "Code 1234", "ttl": 300, "priority": "high"},
            id="enqueue-high",
        ),
        pytest.param(
            "edit",
            ("order-17", 42, "<b>Delivered</b>"),
            {"format": "html", "buttons": TRACK},
            "normal",
            {
                "op": "edit",
                "id": "order-17",
                "user_id": 42,
                "message": "<b>Delivered</b>",
                "format": "html",
                "buttons": TRACK_JSON,
            },
            id="edit",
        ),
        pytest.param(
            "edit",
            ("order-17", 42),
            {"buttons": []},  # only the buttons change: none left
            "normal",
            {"op": "edit", "id": "order-17", "user_id": 42, "buttons": []},
            id="edit-remove-buttons",
        ),
        pytest.param(
            "delete",
            ("order-17", 42),
            {},
            "normal",
            {"op": "delete", "id": "order-17", "user_id": 42},
            id="delete",
        ),
        pytest.param(
            "delete",
            ("order-17", 42),
            {"priority": "high"},
            "high",
            {"op": "delete", "id": "order-17", "user_id": 42, "priority": "high"},
            id="delete-high",
        ),
        pytest.param(
            "cancel", ("sale-1",), {}, "normal", {"op": "cancel", "id": "sale-1"}, id="cancel"
        ),
        pytest.param(
            "fan_out",
            ([1, 2, 3], "The sale starts now"),
            {"id": "sale-1", "receipts": "each"},
            "bulk",
            {
                "user_ids": [1, 2, 3],
                "message": "The sale starts now",
                "id": "sale-1",
                "receipts": "each",
            },
            id="fan-out",
        ),
        pytest.param(
            "fan_out",
            ("all", "Maintenance at 22:00"),
            {"priority": "normal", "silent": True},
            "normal",
            {
                "audience": "all",
                "message": "Maintenance at 22:00",
                "priority": "normal",
                "silent": True,
            },
            id="fan-out-all",
        ),
    ],
)
async def test_each_method_adds_its_json_to_the_stream_of_its_priority(
    publishers: tuple[Publisher, AsyncPublisher],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    priority: str,
    payload: dict[str, Any],
) -> None:
    entry_ids = await call_both(publishers, method, *args, **kwargs)
    assert stored(publishers[0]) == {priority: [(entry_ids[0], payload), (entry_ids[1], payload)]}


async def test_publish_queues_on_the_stream_of_its_priority_and_still_reads_as_a_count(
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    """The default is the durable stream: one receiver (the bot's consumer group), the entry
    id beside it; old callers' `> 0`, truthiness and `== 1` keep working."""
    published = await call_both(publishers, "publish", 42, "hi", priority="high")
    payload = {"user_id": 42, "message": "hi", "priority": "high"}
    assert stored(publishers[0]) == {"high": [(p.entry_id, payload) for p in published]}
    for each in published:
        assert isinstance(each, Published)
        assert each == 1
        assert each > 0
        assert each
        assert str(each) == "1"
        assert repr(each) == f"Published(1, entry_id={each.entry_id!r})"


async def test_a_bot_started_after_publish_still_delivers_it(
    settings: Settings,
    telegram: FakeTelegram,
    redis_url: str,
    redis_client: redis.asyncio.Redis,
) -> None:
    """publish() waits in Redis while no bot listens (a leader change, a restart), where a
    notification on the channel would be lost."""
    with redis.Redis.from_url(redis_url) as sync:
        link_directly(sync, telegram, range(42, 43), chat_base=9000)
    publisher = AsyncPublisher(
        redis_client, settings.notification_channel, settings.notification_stream
    )
    assert await redis_client.pubsub_numsub(settings.notification_channel) == [
        (settings.notification_channel.encode(), 0)
    ]
    published = await publisher.publish(42, "published while no bot ran")
    assert published == 1

    running = await start_bot(settings)
    try:
        [sent] = await wait_sent(telegram, chat_id=9042)
        assert sent.text == "published while no bot ran"
    finally:
        await running.shutdown()
