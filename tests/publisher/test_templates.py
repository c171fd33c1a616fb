"""Publishing a template: checked against what the running bot declared (its templates and the
fields it reads) before anything is written; `templates()` lists them; a plain message costs
the round trip it always did."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.notification.schema import Notification
from bot.publisher import AsyncPublisher, Publisher, Template
from bot.publisher.manifest import KNOWN_TO_EVERY_BOT
from bot.store import manifest
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.helpers import link_chat, wait_sent
from tests.publisher.calls import call, call_both, stored

ORDER_SHIPPED = {
    "languages": ["en", "de"],
    "variables": ["eta", "order"],
    "format": "html",
    "category": "orders",
}
WELCOME = {"languages": ["en"], "variables": [], "format": "text", "category": None}
DATA = {"order": 17, "eta": "2026-12-24"}
SHIPPED = {"user_id": 42, "template": "order_shipped", "data": DATA}


@pytest.fixture
async def declared(redis_client: redis.asyncio.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    """A bot of this version with two templates has started on the test's database."""
    templates = {"order_shipped": ORDER_SHIPPED, "welcome": WELCOME}
    await manifest.declare(redis_client, Notification.model_fields, templates)
    yield redis_client
    await redis_client.delete(manifest.FIELDS, manifest.TEMPLATES)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "priority", "payload"),
    [
        pytest.param("publish", (42,), {}, "normal", SHIPPED, id="publish"),
        pytest.param("enqueue", (42,), {"id": "o-17"}, "normal", {**SHIPPED, "id": "o-17"}),
        pytest.param(
            "edit",
            ("o-17", 42),
            {},
            "normal",
            {"op": "edit", "id": "o-17", **SHIPPED},
            id="edit",
        ),
        pytest.param(
            "fan_out",
            ([41, 42],),
            {"id": "sale"},
            "bulk",
            {"user_ids": [41, 42], "template": "order_shipped", "data": DATA, "id": "sale"},
            id="fan_out",
        ),
    ],
)
async def test_a_declared_template_is_published_with_its_data(
    publishers: tuple[Publisher, AsyncPublisher],
    declared: redis.asyncio.Redis,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    priority: str,
    payload: dict[str, Any],
) -> None:
    """No message: the template's name and data are what goes on the stream, sync and async."""
    replies = await call_both(
        publishers, method, *args, template="order_shipped", data=DATA, **kwargs
    )
    entry_ids = [getattr(reply, "entry_id", reply) for reply in replies]
    assert stored(publishers[0]) == {priority: [(entry_ids[0], payload), (entry_ids[1], payload)]}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param(
            {"template": "order_shipped", "data": {"order": 17}},
            "invalid notification: data.eta: missing (template order_shipped)",
            id="missing-variable",
        ),
        pytest.param(
            {"template": "order_shiped", "data": DATA},
            "invalid notification: template: 'order_shiped' is not one of the running bot's: "
            "order_shipped, welcome",
            id="unknown-template",
        ),
        pytest.param(
            {
                "template": "order_shipped",
                "data": {**DATA, "eta": datetime(2026, 12, 24, tzinfo=UTC)},
            },
            "invalid notification: data.eta: Object of type datetime is not JSON serializable",
            id="data-not-json",
        ),
        pytest.param(
            {"message": "hi", "template": "welcome"},
            "invalid notification: message and template: give one of them, not both",
            id="both",
        ),
        pytest.param(
            {}, "invalid notification: message: field required (or a template)", id="neither"
        ),
    ],
)
async def test_a_template_the_bot_would_refuse_raises_and_writes_nothing(
    publishers: tuple[Publisher, AsyncPublisher],
    declared: redis.asyncio.Redis,
    kwargs: dict[str, Any],
    error: str,
) -> None:
    for publisher in publishers:
        with pytest.raises(ValueError, match="^" + re.escape(error)):
            await call(publisher, "publish", 42, **kwargs)
    assert stored(publishers[0]) == {}


async def test_templates_off_means_no_name_is_known(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """A bot of this version without TEMPLATES_DIR declares none: the error says so."""
    await manifest.declare(redis_client, Notification.model_fields, {})
    for publisher in publishers:
        with pytest.raises(ValueError, match="one of the running bot's: none \\(its TEMPLATES_DIR"):
            await call(publisher, "publish", 42, template="welcome")
        assert await call(publisher, "templates") == {}


async def test_with_no_bot_of_this_version_templates_are_unknown(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """Nothing declared on this database: templates() cannot tell an empty list from an
    unknown one, and says what to start."""
    for publisher in publishers:
        with pytest.raises(
            ValueError,
            match=r"^no bot has declared its templates yet \(notify:templates is not in Redis\): "
            r"start a bot of this version \(with TEMPLATES_DIR\)",
        ):
            await call(publisher, "templates")


async def test_a_bot_older_than_the_publisher_would_ignore_a_template(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """An older bot declares nothing: it would drop `template` and refuse the message as empty
    (a dead letter), so the publisher refuses it now, on the channel too; a plain message
    still goes out."""
    for publisher in publishers:
        for via in ("stream", "pubsub"):
            with pytest.raises(
                ValueError,
                match=r"^the running bot does not say which fields it reads \(it is older than "
                r"this publisher\): it would ignore 'template' and 'data'; upgrade the bot$",
            ):
                await call(publisher, "publish", 42, template="order_shipped", data=DATA, via=via)
    assert stored(publishers[0]) == {}
    await call_both(publishers, "publish", 42, "hi")
    assert len(stored(publishers[0])["normal"]) == 2


async def test_a_bot_whose_fields_lack_template_is_named_with_what_it_would_ignore(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """notify:fields is the bot's own word on what it reads: a field missing there is refused,
    whatever its templates say."""
    await manifest.declare(redis_client, KNOWN_TO_EVERY_BOT, {"welcome": WELCOME})
    for publisher in publishers:
        with pytest.raises(
            ValueError,
            match=r"^the running bot does not read 'template' \(notify:fields\): it would "
            r"ignore it; upgrade the bot$",
        ):
            await call(publisher, "enqueue", 42, template="welcome")
    assert stored(publishers[0]) == {}


async def test_a_manifest_without_templates_is_refused_as_undeclared(
    publishers: tuple[Publisher, AsyncPublisher], redis_client: redis.asyncio.Redis
) -> None:
    """The fields say the bot reads templates, but which it has is not in Redis (the key was
    deleted): refused, rather than guessed."""
    await redis_client.set(manifest.FIELDS, json.dumps(sorted(Notification.model_fields)))
    for publisher in publishers:
        with pytest.raises(ValueError, match=r"^no bot has declared its templates yet"):
            await call(publisher, "publish", 42, template="welcome")
    assert stored(publishers[0]) == {}


async def test_templates_lists_what_the_bot_declared(
    publishers: tuple[Publisher, AsyncPublisher], declared: redis.asyncio.Redis
) -> None:
    expected = {
        "order_shipped": Template(
            "order_shipped", ("en", "de"), ("eta", "order"), "html", "orders"
        ),
        "welcome": Template("welcome", ("en",), (), "text", None),
    }
    assert await call_both(publishers, "templates") == [expected, expected]


async def test_a_plain_message_costs_one_command_and_a_template_one_read_more(
    publishers: tuple[Publisher, AsyncPublisher],
    declared: redis.asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check of what the bot reads costs nothing when only old fields are used."""
    sync, async_ = publishers
    sent: list[str] = []
    # redis-py leaves execute_command untyped
    sync_execute: Callable[..., Any] = sync.client.execute_command
    async_execute: Callable[..., Awaitable[Any]] = async_.client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return sync_execute(*args, **options)

    async def counted_async(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await async_execute(*args, **options)

    monkeypatch.setattr(sync.client, "execute_command", counted)
    monkeypatch.setattr(async_.client, "execute_command", counted_async)
    for publisher in publishers:
        sent.clear()
        await call(publisher, "publish", 42, "hi", format="html", category="orders")
        assert sent == ["XADD"]
        sent.clear()
        await call(publisher, "fan_out", [1, 2], template="order_shipped", data=DATA)
        assert sent == ["MGET", "XADD"]


def test_the_fields_every_bot_reads_are_fields_of_the_notification() -> None:
    """A field renamed or dropped must not linger there; template and data are newer."""
    assert Notification.model_fields.keys() >= KNOWN_TO_EVERY_BOT
    assert {"template", "data"}.isdisjoint(KNOWN_TO_EVERY_BOT)


async def test_a_bot_with_templates_dir_declares_what_the_publisher_checks_and_renders_it(
    settings: Settings,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    tmp_path: Path,
) -> None:
    """End to end: the bot's own declaration, not one a test wrote, is what the publisher reads."""
    (tmp_path / "order_shipped.toml").write_text(
        '[en]\nmessage = "Order {{ order }} ships on {{ eta }}"\n'
    )
    running = await start_bot(settings.model_copy(update={"templates_dir": tmp_path}))
    try:
        publisher = AsyncPublisher(
            redis_client, settings.notification_channel, settings.notification_stream
        )
        assert await publisher.templates() == {
            "order_shipped": Template("order_shipped", ("en",), ("eta", "order"), "text", None)
        }
        with pytest.raises(ValueError, match=r"data\.eta: missing"):
            await publisher.publish(42, template="order_shipped", data={"order": 17})
        await link_chat(telegram, redis_client, user_id=42, chat_id=42)
        await publisher.publish(42, template="order_shipped", data=DATA)
        [sent] = await wait_sent(telegram, chat_id=42, predicate=lambda m: "17" in m.text)
        assert sent.text == "Order 17 ships on 2026-12-24"
    finally:
        await running.shutdown()
