"""The JSON a publisher's arguments become, refused in the web app by the bot's own rules."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.publisher import AsyncPublisher, Button, Publisher, encode
from tests.publisher.calls import call, stored


def test_the_payload_is_the_documented_json() -> None:
    assert json.loads(encode(42, "Your order is on its way!")) == {
        "user_id": 42,
        "message": "Your order is on its way!",
    }


@pytest.mark.parametrize(
    ("user_id", "message", "problem"),
    [
        ("42", "hi", "user_id"),
        (42, "", "message: must not be empty"),
        (42, None, "message"),
    ],
)
def test_a_bad_call_raises_value_error_in_the_web_app(
    user_id: object, message: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"invalid notification: .*{problem}"):
        encode(user_id, message)  # type: ignore[arg-type]


def test_every_field_has_a_keyword_and_only_what_is_set_is_sent() -> None:
    payload = json.loads(
        encode(
            42,
            "<b>Order #17</b> shipped",
            id="order-17",
            format="html",
            buttons=[
                [Button.url("Track parcel", "https://shop.example/t/17")],
                [Button.action("Received it", "order-17:received")],
            ],
            silent=True,
            preview=False,
            protect=False,  # the default: left out
            thread_id=7,
            photo="https://shop.example/p/17.jpg",
        )
    )
    assert payload == {
        "user_id": 42,
        "message": "<b>Order #17</b> shipped",
        "id": "order-17",
        "format": "html",
        "buttons": [
            [{"text": "Track parcel", "url": "https://shop.example/t/17"}],
            [{"text": "Received it", "action": "order-17:received"}],
        ],
        "silent": True,
        "preview": False,
        "thread_id": 7,
        "photo": "https://shop.example/p/17.jpg",
    }


def test_a_bad_field_is_refused_in_the_web_app_by_the_bots_own_rules() -> None:
    with pytest.raises(ValueError, match=r"message: unclosed <b> at character 1$"):
        encode(42, "<b>Order", format="html")
    with pytest.raises(ValueError, match=r"buttons\.0\.0: .javascript:x. is not an http"):
        encode(42, "hi", buttons=[[Button.url("Evil", "javascript:x")]])


async def test_moments_are_sent_as_unix_seconds_and_deliver_at_counts_from_now(
    publishers: tuple[Publisher, AsyncPublisher],
) -> None:
    sync, async_ = publishers
    expires = datetime.now(UTC) + timedelta(hours=2)
    deliver = datetime.now(UTC) + timedelta(hours=1)
    before = time.time()
    sync.enqueue(42, "a", expires_at=expires, deliver_at=60)  # seconds from now
    after = time.time()
    await async_.enqueue(42, "b", expires_at=expires.timestamp(), deliver_at=deliver.isoformat())
    await async_.enqueue(42, "c", deliver_at=deliver.astimezone(timezone(timedelta(hours=-5))))

    [(_, first), (_, second), (_, third)] = stored(sync)["normal"]
    assert first["expires_at"] == second["expires_at"] == expires.timestamp()
    assert before + 60 - 0.001 <= first["deliver_at"] <= after + 60 + 0.001
    assert second["deliver_at"] == third["deliver_at"] == deliver.timestamp()


PAST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE = datetime.now(UTC) + timedelta(days=1)
NAIVE = datetime(2030, 1, 1, 9, 0)  # no time zone: the mistake under test


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "problem"),
    [
        pytest.param("edit", (None, 42, "x"), {}, r"id: required with op edit", id="edit-no-id"),
        pytest.param("delete", (None, 42), {}, r"id: required with op delete", id="delete-no-id"),
        pytest.param("cancel", (None,), {}, r"id: required with op cancel", id="cancel-no-id"),
        pytest.param("cancel", ("",), {}, r"id: string should have at least 1", id="empty-id"),
        pytest.param("delete", ("k", None), {}, r"user_id: required with op delete", id="no-user"),
        pytest.param(
            "edit", ("k", 42), {}, r"op edit needs a message or buttons", id="edit-nothing"
        ),
        pytest.param(
            "enqueue", (42, "hi"), {"expires_at": PAST}, r"expires_at is in the past", id="past"
        ),
        pytest.param(
            "fan_out",
            ([1], "hi"),
            {"expires_at": time.time() - 1},
            r"expires_at is in the past",
            id="past-unix-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"expires_at": NAIVE},
            r"expires_at: needs a time zone",
            id="expires-at-naive",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": NAIVE},
            r"deliver_at: needs a time zone",
            id="deliver-at-naive",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": datetime.now(UTC) + timedelta(days=400)},
            r"deliver_at: more than a year ahead",
            id="deliver-at-too-far",
        ),
        pytest.param(
            "fan_out",
            ([1], "hi"),
            {"deliver_at": 400 * 24 * 3600},
            r"deliver_at: more than a year ahead",
            id="deliver-in-too-many-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": -5},
            r"deliver_at: seconds from now must be 0 or more",
            id="deliver-in-negative-seconds",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"deliver_at": 120, "ttl": 60},
            r"deliver_at: not before it expires",
            id="deliver-after-expiry",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"ttl": 60, "expires_at": FUTURE},
            r"ttl and expires_at: give one of them, not both",
            id="ttl-and-expires-at",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"priority": "urgent"},
            r"priority: input should be 'high', 'normal' or 'bulk'",
            id="unknown-priority",
        ),
        pytest.param(
            "delete",
            ("k", 42),
            {"priority": "urgent"},
            r"priority: input should be",
            id="unknown-priority-delete",
        ),
        pytest.param(
            "fan_out", ([], "hi"), {}, r"user_ids: must not be empty", id="user-ids-empty"
        ),
        pytest.param(
            "fan_out",
            (list(range(10_001)), "hi"),
            {},
            r"user_ids: 10001 ids, over the limit of 10000",
            id="user-ids-over-10000",
        ),
        pytest.param(
            "fan_out",
            ([1, "2"], "hi"),
            {},
            r"user_ids\.1: input should be a valid integer",
            id="user-ids-not-integers",
        ),
        pytest.param(
            "fan_out",
            ("1,2", "hi"),
            {},
            r"user_ids: input should be a valid list",
            id="user-ids-a-string",
        ),
        pytest.param(
            "fan_out",
            ([1, 2], "hi"),
            {"user_id": 42},
            r"user_id and user_ids/audience: give one of them, not both",
            id="user-ids-and-user-id",
        ),
        pytest.param(
            "enqueue",
            (42, "hi"),
            {"user_ids": [1, 2]},
            r"user_id and user_ids/audience: give one of them, not both",
            id="user-id-and-user-ids",
        ),
    ],
)
async def test_a_bad_call_is_one_line_naming_the_field_and_writes_nothing(
    publishers: tuple[Publisher, AsyncPublisher],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    problem: str,
) -> None:
    for publisher in publishers:
        with pytest.raises(ValueError, match=rf"^invalid notification: {problem}") as caught:
            await call(publisher, method, *args, **kwargs)
        assert "\n" not in str(caught.value)
    assert stored(publishers[0]) == {}
