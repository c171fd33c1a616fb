"""What the running bot understands, written at start-up for the web app's publisher to check
against: the notification fields it reads and the templates it has (names, languages,
variables). With several instances of different versions, the last one started is what counts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio

# string: JSON list of the notification fields the bot reads
FIELDS = "notify:fields"
# string: JSON {name: {"languages", "variables", "format", "category"}}; {} when templates are off
TEMPLATES = "notify:templates"


async def declare(
    client: redis.asyncio.Redis, fields: Iterable[str], templates: Mapping[str, Any]
) -> None:
    """Record what this bot reads and which templates it renders, in one round trip."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(FIELDS, json.dumps(sorted(fields)))
        pipe.set(TEMPLATES, json.dumps(templates, ensure_ascii=False))
        await pipe.execute()


def fields_from(raw: bytes | str | None) -> frozenset[str] | None:
    """The fields a bot declared; None when no bot of this version or later has started."""
    return None if raw is None else frozenset(json.loads(raw))


def templates_from(raw: bytes | str | None) -> dict[str, dict[str, Any]] | None:
    """The templates a bot declared; None when no bot has declared any yet."""
    return None if raw is None else dict(json.loads(raw))
