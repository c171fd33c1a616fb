"""Notifications that talk back, from the web app's side: `reply=` and `remind=` as the payload
carries them (checked by the schema and against what the running bot reads), `ack()`, and the
feedback stream read with `feedback()`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from bot.notification.schema import Notification
from bot.publisher import AsyncPublisher, FeedbackEvent, Publisher
from bot.publisher.manifest import KNOWN_TO_EVERY_BOT
from bot.store import manifest
from bot.store.client import as_text
from tests.publisher.calls import call, call_both, stored

QUIET = 0.2  # a read ends once no event came for this long: every event was written before it


@pytest.fixture
async def declared(redis_client: redis.asyncio.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    """A bot that reads every field of this version's notification has started."""
    await manifest.declare(redis_client, Notification.model_fields, {})
    yield redis_client
    await redis_client.delete(manifest.FIELDS, manifest.TEMPLATES)


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        pytest.param({"reply": True}, {"reply": True}, id="reply"),
        pytest.param(
            {"reply": "Your answer"}, {"reply": {"placeholder": "Your answer"}}, id="placeholder"
        ),
        pytest.param({"reply": False}, {}, id="reply-false-left-out"),
        pytest.param(
            {"remind": (600, 3)}, {"remind": {"every": 600, "times": 3}}, id="remind-tuple"
        ),
        pytest.param(
            {"remind": {"every": 60, "times": 10}, "reply": True},
            {"remind": {"every": 60, "times": 10}, "reply": True},
            id="remind-mapping-and-reply",
        ),
    ],
)
@pytest.mark.parametrize("method", ["publish", "enqueue"])
async def test_reply_and_remind_go_on_the_stream_as_the_wire_schema_has_them(
    publishers: tuple[Publisher, AsyncPublisher],
    declared: redis.asyncio.Redis,
    method: str,
    kwargs: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    await call_both(publishers, method, 42, "Leave it at the door?", id="order-17", **kwargs)
    payload = {"user_id": 42, "message": "Leave it at the door?", "id": "order-17", **fields}
    assert [p for _, p in stored(publishers[0])["normal"]] == [payload, payload]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param(
            {"reply": True}, "reply: needs an id (what the answer is reported with)", id="no-id"
        ),
        pytest.param(
            {"remind": (600, 3)}, "remind: needs an id (what the answer is reported with)"
        ),
        pytest.param(
            {
                "id": "o",
                "reply": True,
                "buttons": [[{"text": "Track", "url": "https://t.example"}]],
            },
            "reply and buttons: Telegram cannot show a reply field and buttons on one message",
            id="reply-with-buttons",
        ),
        pytest.param(
            {"id": "o", "reply": "Why?", "category": "news", "mute_button": True},
            "reply and mute_button: Telegram cannot show a reply field and buttons",
            id="reply-with-mute-button",
        ),
        pytest.param(
            {"id": "o", "reply": "x" * 65},
            "reply.bool: input should be a valid boolean; reply.ReplyField.placeholder: string "
            "should have at most 64 characters",
            id="placeholder-too-long",
        ),
        pytest.param(
            {"id": "o", "remind": (59, 3)},
            "remind: every: 59 s, under 60 s (REMIND_MIN_SECONDS)",
            id="every-too-short",
        ),
        pytest.param(
            {"id": "o", "remind": {"every": 600, "times": 11}},
            "remind.times: input should be less than or equal to 10",
            id="too-many-times",
        ),
        pytest.param(
            {"id": "o", "remind": (600,)},
            "remind: give (every, times), e.g. (600, 3), not 1 values",
            id="remind-tuple-of-one",
        ),
        pytest.param(
            {"id": "o", "remind": {"every": 600}}, "remind.times: field required", id="no-times"
        ),
    ],
)
async def test_reply_and_remind_the_bot_would_refuse_raise_and_write_nothing(
    publishers: tuple[Publisher, AsyncPublisher],
    declared: redis.asyncio.Redis,
    kwargs: dict[str, Any],
    error: str,
) -> None:
    for publisher in publishers:
        for method in ("publish", "enqueue"):
            with pytest.raises(ValueError, match="^" + re.escape(f"invalid notification: {error}")):
                await call(publisher, method, 42, "hi", **kwargs)
    assert stored(publishers[0]) == {}


async def test_reply_and_remind_are_refused_on_a_fan_out(
    publishers: tuple[Publisher, AsyncPublisher], declared: redis.asyncio.Redis
) -> None:
    """fan_out takes no such keyword (FanOutOptions); an untyped caller's gets the schema's
    reason."""
    for publisher in publishers:
        for field, value in (("reply", True), ("remind", (600, 3))):
            with pytest.raises(ValueError, match=rf"^invalid notification: {field}: not on a fan"):
                await call(publisher, "fan_out", [1, 2], "hi", id="sale", **{field: value})
    assert stored(publishers[0]) == {}


@pytest.mark.parametrize("field", ["reply", "remind"])
async def test_a_bot_that_does_not_read_the_field_is_named_and_nothing_is_written(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis, field: str
) -> None:
    """The bot's notify:fields lacks it (a bot of before issue 30): it would send the message
    with no reply field, or never remind; refused, sync and async, on the channel too."""
    await manifest.declare(redis_client, KNOWN_TO_EVERY_BOT | {"template", "data"}, {})
    value = {"reply": True, "remind": (600, 3)}[field]
    try:
        for publisher in publishers:
            for via in ("stream", "pubsub"):
                with pytest.raises(
                    ValueError,
                    match=rf"^the running bot does not read '{field}' \(notify:fields\): it "
                    r"would ignore it; upgrade the bot$",
                ):
                    await call(publisher, "publish", 42, "hi", id="o", via=via, **{field: value})
        assert stored(publishers[0]) == {}
    finally:
        await redis_client.delete(manifest.FIELDS, manifest.TEMPLATES)


async def test_a_bot_that_says_nothing_of_its_fields_gets_no_reply_or_remind(
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    for publisher in publishers:
        with pytest.raises(ValueError, match=r"it would ignore 'reply' and 'remind'; upgrade"):
            await call(publisher, "enqueue", 42, "hi", id="o", reply=True, remind=(600, 3))
    assert stored(publishers[0]) == {}


async def test_a_publisher_told_the_bot_takes_shorter_reminders_sends_them(
    redis_url: str, channel: str, declared: redis.asyncio.Redis
) -> None:
    """REMIND_MIN_SECONDS lowered on the bot: the web app says so with remind_min_seconds."""
    stream = f"{channel}-stream"
    sync = Publisher.from_url(redis_url, stream=stream, remind_min_seconds=5)
    async_ = AsyncPublisher.from_url(redis_url, stream=stream, remind_min_seconds=5)
    try:
        await call_both((sync, async_), "enqueue", 42, "hi", id="o", remind=(5, 2))
        assert [p["remind"] for _, p in stored(sync)["normal"]] == [{"every": 5, "times": 2}] * 2
        with pytest.raises(ValueError, match=r"remind: every: 4 s, under 5 s"):
            await async_.enqueue(42, "hi", id="o", remind=(4, 2))
    finally:
        sync.client.delete(*(stream, f"{stream}:high", f"{stream}:bulk"))
        sync.client.close()
        await async_.client.aclose()


async def test_ack_goes_on_the_stream_of_its_priority(
    publishers: tuple[Publisher, AsyncPublisher], declared: redis.asyncio.Redis
) -> None:
    normal = await call_both(publishers, "ack", "order-17", 42)
    high = await call_both(publishers, "ack", "order-17", 42, priority="high")
    ack = {"op": "ack", "id": "order-17", "user_id": 42}
    assert stored(publishers[0]) == {
        "high": [(entry_id, {**ack, "priority": "high"}) for entry_id in high],
        "normal": [(entry_id, ack) for entry_id in normal],
    }


async def test_ack_is_refused_when_the_running_bot_knows_no_reminders(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """A bot whose fields lack `remind` would dead-letter op ack: refused. A bot that says
    nothing of its fields is not asked (its dead letter tells)."""
    await manifest.declare(redis_client, KNOWN_TO_EVERY_BOT | {"template", "data"}, {})
    try:
        for publisher in publishers:
            with pytest.raises(
                ValueError,
                match=r"^the running bot does not read 'remind' \(notify:fields\): it sends no "
                r"reminders and knows no op ack; upgrade the bot$",
            ):
                await call(publisher, "ack", "order-17", 42)
        assert stored(publishers[0]) == {}
    finally:
        await redis_client.delete(manifest.FIELDS, manifest.TEMPLATES)
    await call_both(publishers, "ack", "order-17", 42)
    assert len(stored(publishers[0])["normal"]) == 2


async def test_ack_needs_an_id_and_a_user_as_the_schema_says(
    publishers: tuple[Publisher, AsyncPublisher], declared: redis.asyncio.Redis
) -> None:
    for publisher in publishers:
        with pytest.raises(ValueError, match=r"^invalid notification: id: "):
            await call(publisher, "ack", "", 42)
    assert stored(publishers[0]) == {}


REPLY = {
    "type": "reply",
    "id": "order-17",
    "user_id": 42,
    "chat": "group",
    "chat_id": -4242,
    "message_id": 75,
    "reply_message_id": 80,
    "at": "2026-12-08T10:00:00.123+00:00",
    "text": "Yes, leave it at the door",
    "entities": [{"type": "bold", "offset": 0, "length": 3}],
    "from": 999,
}
REACTION = {
    "type": "reaction",
    "id": "order-17",
    "user_id": 42,
    "chat": "private",
    "chat_id": 4242,
    "message_id": 75,
    "at": "2026-12-08T10:01:00.000+00:00",
    "added": ["👍"],
    "removed": ["5368324170671202286"],
}
UNACKNOWLEDGED = {
    "type": "unacknowledged",
    "id": "table-3",
    "user_id": 43,
    "reminders": 3,
    "at": "2026-12-08T11:00:00.000+00:00",
}


def expected(entry_ids: list[str]) -> list[FeedbackEvent]:
    reply, reaction, unacknowledged = entry_ids
    return [
        FeedbackEvent(
            type="reply",
            id="order-17",
            user_id=42,
            at="2026-12-08T10:00:00.123+00:00",
            entry_id=reply,
            chat="group",
            chat_id=-4242,
            message_id=75,
            text="Yes, leave it at the door",
            entities=({"type": "bold", "offset": 0, "length": 3},),
            reply_message_id=80,
            from_user=999,
        ),
        FeedbackEvent(
            type="reaction",
            id="order-17",
            user_id=42,
            at="2026-12-08T10:01:00.000+00:00",
            entry_id=reaction,
            chat="private",
            chat_id=4242,
            message_id=75,
            added=("👍",),
            removed=("5368324170671202286",),
        ),
        FeedbackEvent(
            type="unacknowledged",
            id="table-3",
            user_id=43,
            at="2026-12-08T11:00:00.000+00:00",
            entry_id=unacknowledged,
            reminders=3,
        ),
    ]


async def add_events(client: redis.asyncio.Redis, stream: str) -> list[str]:
    """The bot's three kinds of event, with entries to skip between them (a newer bot's type,
    not JSON, no payload, a reply without its user); the ids of the three."""
    no_user = {key: value for key, value in REPLY.items() if key != "user_id"}
    entries = [
        (json.dumps(REPLY, ensure_ascii=False), True),
        (json.dumps({**REPLY, "type": "poll_answer", "option": 1}), False),  # a newer bot's
        ("not json", False),
        (json.dumps(REACTION, ensure_ascii=False), True),
        (json.dumps(no_user), False),
        (json.dumps(UNACKNOWLEDGED), True),
    ]
    ids = []
    for payload, ours in entries:
        entry_id = await client.xadd(stream, {"payload": payload})
        if ours:
            ids.append(as_text(entry_id))
    await client.xadd(stream, {"other": "field"})
    return ids


async def test_feedback_events_are_read_acknowledged_and_unknown_ones_skipped(
    redis_url: str, redis_client: redis.asyncio.Redis, channel: str
) -> None:
    stream = f"{channel}-feedback"
    sync = Publisher.from_url(redis_url, feedback_stream=stream)
    async_ = AsyncPublisher.from_url(redis_url, feedback_stream=stream)
    try:
        ids = await add_events(redis_client, stream)
        events = expected(ids)
        read = [e async for e in async_.feedback("shop", stop_after=QUIET, wait=QUIET / 2)]
        assert read == events
        assert (await redis_client.xpending(stream, "shop"))["pending"] == 0  # skipped ones too
        # Another group starts at the stream's start; the blocking reader sees the same.
        assert list(sync.feedback("crm", "worker-1", stop_after=QUIET, wait=QUIET / 2)) == events
        assert list(sync.feedback("crm", "worker-1", stop_after=QUIET, wait=QUIET / 2)) == []
    finally:
        await redis_client.delete(stream)
        sync.client.close()
        await async_.client.aclose()


async def test_a_feedback_event_left_in_the_loop_comes_again(
    redis_url: str, redis_client: redis.asyncio.Redis, channel: str
) -> None:
    """At least once, as actions(): acknowledged only when the loop asks for the next one."""
    stream = f"{channel}-feedback"
    publisher = AsyncPublisher.from_url(redis_url, feedback_stream=stream)
    try:
        ids = await add_events(redis_client, stream)
        async for event in publisher.feedback("shop", stop_after=QUIET, wait=QUIET / 2):
            assert event.type == "reply"
            break  # handled, but the loop was left: it stays pending
        again = [e.entry_id async for e in publisher.feedback("shop", stop_after=QUIET)]
        assert again == ids
        with pytest.raises(ValueError, match="wait must be over 0"):
            publisher.feedback("shop", wait=0)
    finally:
        await redis_client.delete(stream)
        await publisher.client.aclose()


def test_a_feedback_entry_parses_with_only_what_its_type_needs() -> None:
    """Optional fields default to None and (); a reply with no formatting has no entities."""
    plain = {key: value for key, value in REPLY.items() if key not in ("entities", "from")}
    event = FeedbackEvent.from_entry(b"1-0", {b"payload": json.dumps(plain).encode()})
    assert event is not None
    assert (event.entities, event.from_user, event.added, event.reminders) == ((), None, (), None)
    assert FeedbackEvent.from_entry("1-1", {"payload": json.dumps({"type": "linked"})}) is None
